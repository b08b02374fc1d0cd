"""The init path's throughput pieces as pure logic: the requirements cache and who waits for whom.

The real-wandb side (the same requirements.txt as wandb's, concurrent runs losing nothing) is in
integration-tests/core/test_throughput.py.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from flyteplugins.wandb_core import _compat, _concurrency, _requirements

PKGS = [SimpleNamespace(key="flyte", version="2.12.1"), SimpleNamespace(key="wandb", version="0.31.0")]


@pytest.fixture
def scans(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []

    def scan() -> list[Any]:
        calls.append(1)
        return list(PKGS)

    monkeypatch.setattr(_compat, "installed_distributions", scan)
    monkeypatch.setattr(_requirements, "_cache", None)
    return calls


def test_installed_packages_are_scanned_once_per_process(scans: list[int]) -> None:
    assert _requirements.installed() == PKGS
    assert _requirements.installed() == PKGS
    assert len(scans) == 1


def test_a_package_installed_meanwhile_triggers_a_new_scan(
    scans: list[int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.setattr(sys, "path", [*sys.path, str(site)])
    _requirements.installed()
    (site / "newpkg-1.0.dist-info").mkdir()
    # Some filesystems keep mtimes at a coarse grain: make the change visible whatever the clock.
    import os

    stamp = os.stat(site).st_mtime_ns
    os.utime(site, ns=(stamp + 10**9, stamp + 10**9))
    _requirements.installed()
    assert len(scans) == 2


def test_concurrent_first_runs_share_one_scan(scans: list[int]) -> None:
    threads = [threading.Thread(target=_requirements.installed) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(scans) == 1


@pytest.mark.parametrize(
    ("kwargs", "fields", "default"),
    [
        ({"mode": "disabled"}, {}, True),
        ({}, {"mode": "disabled"}, True),
        ({}, {"x_save_requirements": False}, True),
        ({}, {}, False),  # turned off in wandb's settings files or WANDB__SAVE_REQUIREMENTS
    ],
    ids=["disabled-kwarg", "disabled-setting", "user-turned-off", "off-by-default"],
)
def test_requirements_are_left_alone_where_wandb_would_record_none(
    monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, Any], fields: dict[str, Any], default: bool
) -> None:
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setattr(_compat, "saves_requirements_by_default", lambda: default)
    monkeypatch.setattr(_compat, "can_publish_requirements", lambda: True)
    assert _requirements.take_over(kwargs, fields) == (fields, False)


def test_requirements_are_taken_over_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setattr(_compat, "saves_requirements_by_default", lambda: True)
    monkeypatch.setattr(_compat, "can_publish_requirements", lambda: True)
    fields, record = _requirements.take_over({"mode": "offline"}, {"init_timeout": 30.0})
    assert record is True
    assert fields == {"init_timeout": 30.0, "x_save_requirements": False}


def test_without_the_hand_over_api_wandb_scans_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_compat, "saves_requirements_by_default", lambda: True)
    monkeypatch.setattr(_compat, "can_publish_requirements", lambda: False)
    assert _requirements.take_over({}, {}) == ({}, False)


def test_the_list_goes_to_wandb_through_the_run_interface() -> None:
    got: list[Any] = []
    run = SimpleNamespace(_interface=SimpleNamespace(publish_python_packages=got.append))
    _compat.publish_requirements(run, PKGS)
    assert got == [PKGS]


def test_a_run_without_backend_records_nothing(tmp_path: Path) -> None:
    _compat.publish_requirements(SimpleNamespace(_interface=None, dir=str(tmp_path)), PKGS)
    assert list(tmp_path.iterdir()) == []


def test_without_the_interface_the_file_is_written_in_wandbs_format_and_saved(tmp_path: Path) -> None:
    saved: list[tuple[str, str]] = []
    run = SimpleNamespace(dir=str(tmp_path), save=lambda path, base_path, policy: saved.append((path, policy)))
    _compat.publish_requirements(run, PKGS)
    assert (tmp_path / "requirements.txt").read_text() == "flyte==2.12.1\nwandb==0.31.0\n"
    assert saved == [(str(tmp_path / "requirements.txt"), "now")]


def test_a_failure_to_record_never_fails_the_task(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    def boom(run: Any, packages: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(_compat, "publish_requirements", boom)
    monkeypatch.setattr(_requirements, "installed", lambda: PKGS)
    _requirements.record(object())
    assert "disk full" in caplog.text


# -- who waits for whom -------------------------------------------------------------------------


def test_finishing_never_waits_behind_opening() -> None:
    """With every open worker busy (a fan-out's queued inits), a finish still runs at once."""
    release = threading.Event()

    async def scenario() -> str:
        blocked = [
            asyncio.ensure_future(_concurrency.opening(release.wait, 30)) for _ in range(_concurrency.OPEN_WORKERS + 2)
        ]
        try:
            return await asyncio.wait_for(_concurrency.finishing(lambda: "finished"), 20)
        finally:
            release.set()
            await asyncio.gather(*blocked)

    assert asyncio.run(scenario()) == "finished"


def test_a_new_run_waits_while_the_finish_backlog_is_full(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opens queue behind pending finishes (wandb-core holds every unfinished stream), not the reverse."""
    monkeypatch.setattr(_concurrency, "BACKLOG", 2)
    release = threading.Event()
    order: list[str] = []

    def slow_finish(name: str) -> None:
        release.wait(30)
        order.append(name)

    async def scenario() -> None:
        finishes = [asyncio.ensure_future(_concurrency.finishing(slow_finish, f"f-{i}")) for i in range(2)]
        await asyncio.sleep(0.05)  # both finishes submitted: the backlog is full
        opened = asyncio.ensure_future(_concurrency.opening(order.append, "open"))
        await asyncio.sleep(0.3)
        assert not opened.done(), "an open went ahead of a full finish backlog"
        release.set()
        await asyncio.wait_for(asyncio.gather(*finishes, opened), 20)

    asyncio.run(scenario())
    # The open went once a finish had left the backlog (the other may still be returning).
    assert order.index("open") >= 1 and sorted(x for x in order if x != "open") == ["f-0", "f-1"]


def test_a_stuck_finish_delays_new_runs_only_for_a_bounded_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """A finish hanging on a dead server must not stop every later task from opening its run."""
    monkeypatch.setattr(_concurrency, "BACKLOG", 1)
    monkeypatch.setattr(_concurrency, "BACKLOG_WAIT_S", 0.2)
    release = threading.Event()

    async def scenario() -> str:
        stuck = asyncio.ensure_future(_concurrency.finishing(release.wait, 30))
        await asyncio.sleep(0.05)
        try:
            return await asyncio.wait_for(_concurrency.opening(lambda: "opened"), 10)
        finally:
            release.set()
            await stuck

    assert asyncio.run(scenario()) == "opened"


def test_finishes_stuck_past_the_wait_stop_holding_new_runs_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """After a dead server left finishes hanging, later runs open at once (not after a wait each)."""
    monkeypatch.setattr(_concurrency, "BACKLOG", 1)
    monkeypatch.setattr(_concurrency, "BACKLOG_WAIT_S", 0.3)
    with _concurrency.finish_pending():  # a finish that never returns during this test
        first = _timed(_concurrency.wait_for_backlog)
        later = [_timed(_concurrency.wait_for_backlog) for _ in range(3)]
    assert first >= 0.25
    assert max(later) < 0.1, later


def test_sync_tasks_count_their_finishes_in_the_backlog(monkeypatch: pytest.MonkeyPatch) -> None:
    """finish_pending (used by sync tasks' close) holds opens back like the async pool does."""
    monkeypatch.setattr(_concurrency, "BACKLOG", 1)
    monkeypatch.setattr(_concurrency, "BACKLOG_WAIT_S", 0.2)
    with _concurrency.finish_pending():
        waited = _timed(_concurrency.wait_for_backlog)
    assert waited >= 0.15
    assert _timed(_concurrency.wait_for_backlog) < 0.1


def test_a_finish_leaves_the_backlog_in_its_thread_even_while_the_loop_is_blocked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A sync tracked function called on the event loop waits for finishes it cannot resume."""
    monkeypatch.setattr(_concurrency, "BACKLOG", 1)
    monkeypatch.setattr(_concurrency, "BACKLOG_WAIT_S", 10.0)

    async def scenario() -> float:
        finish = asyncio.ensure_future(_concurrency.finishing(lambda: None))
        await asyncio.sleep(0)  # submitted: the backlog is full
        waited = _timed(_concurrency.wait_for_backlog)  # blocks the loop, as a sync open would
        await finish
        return waited

    assert asyncio.run(scenario()) < 5.0


def _timed(func: Any) -> float:
    import time

    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def test_pool_calls_see_the_callers_contextvars() -> None:
    import contextvars

    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")

    async def scenario() -> tuple[str, str]:
        var.set("task")
        return await _concurrency.opening(var.get), await _concurrency.finishing(var.get)

    assert asyncio.run(scenario()) == ("task", "task")


def _overlap(reinit: Any, monkeypatch: pytest.MonkeyPatch, *, service_ready: bool, expect: bool) -> bool:
    """Whether a second init_slot(reinit) is entered while a first one is held.

    When it should get in, it is given ample time (a loaded machine); when it should not, it gets
    a second: a broken lock lets it in at once.
    """
    ready = threading.Event()
    if service_ready:
        ready.set()
    monkeypatch.setattr(_concurrency, "_service_ready", ready)
    inside, leave, second_in = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        with _concurrency.init_slot(reinit):
            inside.set()
            leave.wait(20)

    def second() -> None:
        inside.wait(20)
        with _concurrency.init_slot(reinit):
            second_in.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    overlapped = second_in.wait(20 if expect else 1)
    leave.set()
    for t in threads:
        t.join()
    assert second_in.is_set()  # it got in eventually, either way
    return overlapped


def test_inits_overlap_once_the_service_is_up(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _overlap("create_new", monkeypatch, service_ready=True, expect=True) is True


@pytest.mark.parametrize(
    ("reinit", "service_ready"),
    [("create_new", False), ("finish_previous", True), ("return_previous", True), (None, True)],
    ids=["first-init-of-the-process", "finish_previous", "return_previous", "unset"],
)
def test_inits_touching_process_state_run_alone(
    monkeypatch: pytest.MonkeyPatch, reinit: Any, service_ready: bool
) -> None:
    assert _overlap(reinit, monkeypatch, service_ready=service_ready, expect=False) is False
