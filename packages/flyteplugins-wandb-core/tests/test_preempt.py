"""The SIGTERM handler's bookkeeping: where it installs, what it restores, what it calls and in which order.

The behaviour with real processes, wandb and Flyte is proven in integration-tests/core/test_preempt.py;
here stand-in runs record the calls the handler makes.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from flyteplugins.wandb_core import _preempt
from flyteplugins.wandb_core._state import ActiveRun, registry


class _Run:
    def __init__(self, calls: list[str], name: str) -> None:
        self.calls, self.id, self.dir = calls, name, None
        self._is_finished = False

    def mark_preempting(self) -> None:
        self.calls.append(f"{self.id}:mark_preempting")

    def finish(self, exit_code: int = 0) -> None:
        self.calls.append(f"{self.id}:finish({exit_code})")
        self._is_finished = True

    def log(self, data: dict[str, Any]) -> None:
        self.calls.append(f"{self.id}:log")


@pytest.fixture(autouse=True)
def clean_handler(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    before = signal.getsignal(signal.SIGTERM)
    calls: list[str] = []

    def previous(signum: int, frame: Any) -> None:
        calls.append("previous")

    signal.signal(signal.SIGTERM, previous)
    monkeypatch.setattr(_preempt, "_installed", False)
    monkeypatch.setattr(_preempt, "_keep", False)
    monkeypatch.setattr(_preempt, "_previous", None)
    yield calls
    registry.forget_all()
    signal.signal(signal.SIGTERM, before)


def _active(calls: list[str], name: str) -> ActiveRun:
    return ActiveRun(run=_Run(calls, name), run_id=name, primary=True, offline=False)


def _open(active: ActiveRun) -> None:
    registry.add(active, shareable=False)


def _close(active: ActiveRun) -> bool:
    still_open = registry.closing(active)
    registry.closed()
    return still_open


def test_installs_while_a_run_is_open_and_restores_the_previous_handler(clean_handler: list[str]) -> None:
    previous = signal.getsignal(signal.SIGTERM)
    active = _active(clean_handler, "a")
    _open(active)
    assert signal.getsignal(signal.SIGTERM) is _preempt._on_sigterm
    assert _close(active) is True
    assert signal.getsignal(signal.SIGTERM) is previous


def test_installed_to_stay_stays(clean_handler: list[str]) -> None:
    assert _preempt.arm(keep=True)
    active = _active(clean_handler, "a")
    _open(active)
    _close(active)
    assert signal.getsignal(signal.SIGTERM) is _preempt._on_sigterm


def test_never_installs_off_the_main_thread(clean_handler: list[str]) -> None:
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(_preempt.arm(keep=True)))
    thread.start()
    thread.join()
    assert result == [False] and signal.getsignal(signal.SIGTERM) is not _preempt._on_sigterm


def test_an_ignored_sigterm_stays_ignored(clean_handler: list[str]) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    assert not _preempt.arm(keep=True)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN


def test_handler_marks_finishes_then_chains(clean_handler: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    _preempt.arm(keep=True)
    a, b = _active(clean_handler, "a"), _active(clean_handler, "b")
    _open(a)
    _open(b)
    _preempt._on_sigterm(signal.SIGTERM, None)
    code = _preempt.PREEMPTED_EXIT_CODE
    for name in ("a", "b"):
        mine = [c for c in clean_handler if c.startswith(f"{name}:")]
        assert mine == [f"{name}:mark_preempting", f"{name}:finish({code})"]
    assert clean_handler[-1] == "previous"  # the application's handler runs after the runs are saved
    # The scopes' own finish is skipped: the handler finished their runs already.
    assert _close(a) is False and _close(b) is False
    [line] = [x for x in capsys.readouterr().err.splitlines() if "SIGTERM" in x]
    assert "a, b" in line and str(code) in line


def test_runs_finished_by_an_earlier_handler_are_left_alone(clean_handler: list[str]) -> None:
    _preempt.arm(keep=True)
    active = _active(clean_handler, "a")
    _open(active)
    # An application's own handler, earlier in the chain, finished it (outside the task's scope).
    active.run.finish(1)
    _preempt._on_sigterm(signal.SIGTERM, None)
    assert clean_handler == ["a:finish(1)", "previous"]
