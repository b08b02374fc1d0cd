"""The stand-in a sweep trial's body holds while its run opens (pure logic: a fake scope and run)."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from flyteplugins.wandb_core import _concurrency
from flyteplugins.wandb_core._resolve import RunPlan
from flyteplugins.wandb_core._state import ActiveRun


class FakeRun:
    def __init__(self, config: dict) -> None:
        self.id = "trial-1"
        self.config = SimpleNamespace(**config)
        self.logged: list[dict] = []

    def log(self, row: dict) -> None:
        self.logged.append(row)


class FakeScope:
    """Opens when ``gate`` is set, like a wandb.init that is still talking to the server."""

    def __init__(self, *, fail: BaseException | None = None) -> None:
        self.plan = RunPlan(action="init", run_id="trial-1", init_kwargs={"config": {"lr": 0.1}, "mode": "offline"})
        self.active: ActiveRun | None = None
        self.gate = threading.Event()
        self.fail = fail
        self.run = FakeRun({"lr": 0.1, "added_by_init": 1})

    def open(self) -> None:
        self.gate.wait(5)
        if self.fail is not None:
            raise self.fail
        self.active = ActiveRun(run=self.run, run_id="trial-1", primary=True, owner=True, offline=True)


def _opening(scope: FakeScope) -> _concurrency.PendingOpen:
    pending = _concurrency.PendingOpen(scope)  # type: ignore[arg-type]
    threading.Thread(target=pending.run, daemon=True).start()
    return pending


def test_config_reads_answer_before_the_open_and_everything_else_waits():
    scope = FakeScope()
    pending = _opening(scope)
    proxy = pending.active.run
    assert pending.active.pending is pending and pending.active.offline
    assert proxy.config["lr"] == 0.1 and proxy.config.lr == 0.1 and proxy.config.get("lr") == 0.1
    assert not pending.ready.is_set()  # none of that waited

    logged = threading.Event()
    threading.Thread(target=lambda: (proxy.log({"loss": 1.0}), logged.set()), daemon=True).start()
    time.sleep(0.2)
    assert not logged.is_set()  # log waits for the run: nothing goes anywhere before it exists
    scope.gate.set()
    assert logged.wait(30)
    assert scope.run.logged == [{"loss": 1.0}]
    # Once open: the real run's values and equality with the run itself; the scope now holds the real run.
    assert proxy.id == "trial-1" and proxy.config.added_by_init == 1
    assert proxy == scope.run and not isinstance(proxy, FakeRun)
    assert pending.active.run is scope.run and pending.active.pending is None


def test_a_config_key_the_plan_lacks_waits_for_the_run():
    scope = FakeScope()
    pending = _opening(scope)
    threading.Timer(0.2, scope.gate.set).start()
    start = time.monotonic()
    assert pending.proxy.config.added_by_init == 1
    assert time.monotonic() - start >= 0.15


def test_an_open_that_raised_is_raised_by_the_next_run_access_and_by_wait():
    scope = FakeScope(fail=RuntimeError("service died"))
    pending = _opening(scope)
    scope.gate.set()
    with pytest.raises(RuntimeError, match="service died"):
        pending.proxy.log({"loss": 1.0})
    with pytest.raises(RuntimeError, match="service died"):
        pending.wait()


def test_settle_waits_for_a_pending_scope_and_passes_others_through():
    scope = FakeScope()
    pending = _opening(scope)
    threading.Timer(0.1, scope.gate.set).start()
    assert _concurrency.settle(pending.active) is pending.active and pending.ready.is_set()
    plain = ActiveRun(run=None, run_id=None, primary=False)
    assert _concurrency.settle(plain) is plain and _concurrency.settle(None) is None


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, True),
        ({"is_trial": False}, False),
        ({"plan": RunPlan(action="reuse", run_id="p")}, False),
        ({"plan": RunPlan(action="init", on_error="raise")}, False),
        ({"dist": object()}, False),
        ({"is_task": True, "task": SimpleNamespace(report=True)}, False),
    ],
)
def test_which_calls_open_beside_their_body(changes, expected):
    scope = SimpleNamespace(plan=RunPlan(action="init", run_id="t"), is_trial=True, dist=None, is_task=False, task=None)
    for key, value in changes.items():
        setattr(scope, key, value)
    assert _concurrency.eligible(scope) is expected  # type: ignore[arg-type]
