"""The online slot loop's handling of server commands (fake server and trials: pure protocol logic)."""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import ClassVar

import pytest

from flyteplugins.wandb_sweeps import _launcher as _controller
from flyteplugins.wandb_sweeps._agent import Launch
from flyteplugins.wandb_sweeps._config import SweepState
from flyteplugins.wandb_sweeps._launcher import Plan, TrialHeartbeat
from flyteplugins.wandb_sweeps._results import Progress, TrialResult


class FakeServer:
    """Replays scripted heartbeat answers; records what the slot reported."""

    script: ClassVar[list[list[dict]]] = []
    made: ClassVar[list[FakeServer]] = []

    def __init__(self, sweep_id: str, project: str | None, entity: str | None, host: str | None) -> None:
        self.sweep_id = sweep_id
        self.beats: list[dict] = []
        FakeServer.made.append(self)

    def heartbeat(self, running: dict) -> list[dict]:
        self.beats.append(dict(running))
        return FakeServer.script.pop(0) if FakeServer.script else []


def run_cmd(run_id: str, **params) -> dict:
    return {"type": "run", "run_id": run_id, "args": {k: {"value": v} for k, v in params.items()}}


@pytest.fixture
def ran(monkeypatch):
    ran: list[tuple[int, str, dict]] = []
    FakeServer.made = []

    async def fake_run_one(plan, slot, run_id, params):
        ran.append((slot, run_id, params))
        return TrialResult(run_id=run_id, params=params, metric=float(len(ran)), agent=slot)

    monkeypatch.setattr(_controller, "run_one", fake_run_one)
    return ran


def plan(budget: int = 10, idle_timeout: float = 5.0, agents: int = 1) -> Plan:
    state = SweepState(sweep_id="sw1", mode="online", config={"method": "grid"}, project="p", entity="e")
    return Plan(
        state=state,
        launch=Launch(progress=Progress("sw1", budget, "loss", "minimize"), budget=budget),
        token="t",
        objective=None,
        objective_is_task=False,
        agent_task=None,
        agents=agents,
        total=budget,
        metric_name="loss",
        goal="minimize",
        poll_interval=0.0,
        idle_timeout=idle_timeout,
        in_process=True,
        upload_runs=False,
    )


def run_slots(p: Plan) -> list[str]:
    return asyncio.run(_controller.run_slots(p, None, server_factory=FakeServer))


def test_runs_commands_and_stops_on_exit(ran):
    FakeServer.script = [[run_cmd("r1", lr=0.1)], [], [run_cmd("r2", lr=0.2), run_cmd("ignored")], [{"type": "exit"}]]
    p = plan()
    assert run_slots(p) == []
    assert [r[1] for r in ran] == ["r1", "r2"]
    assert ran[0][2] == {"lr": 0.1}
    assert [t.run_id for t in p.launch.results] == ["r1", "r2"]
    assert FakeServer.made[0].beats[-1] == {}  # leaves the server with nothing marked running


def test_budget_caps_trials_across_slots(ran):
    FakeServer.script = [[run_cmd(f"r{i}")] for i in range(8)]
    p = plan(budget=3, agents=2)
    run_slots(p)
    assert len(p.launch.results) == 3
    assert p.launch.budget == 0
    assert len(FakeServer.made) == 2  # one registered agent per slot


def test_exit_gives_the_claimed_trial_back(ran):
    FakeServer.script = [[run_cmd("r0")], [{"type": "exit"}]]
    p = plan(budget=3)
    run_slots(p)
    assert [t.run_id for t in p.launch.results] == ["r0"]
    assert p.launch.budget == 2


def test_idle_slot_gives_up_after_idle_timeout(ran):
    FakeServer.script = []
    p = plan(idle_timeout=0.05)
    p.poll_interval = 0.01
    assert run_slots(p) == [] and ran == []


def test_a_slot_that_cannot_register_is_an_agent_error(ran):
    def broken(*args):
        raise RuntimeError("the W&B server did not register an agent")

    errors = asyncio.run(_controller.run_slots(plan(), None, server_factory=broken))
    assert errors == ["agent 0: RuntimeError: the W&B server did not register an agent"]


def test_stop_command_during_a_trial_sets_the_stop_flag_and_queues_new_runs():
    server = FakeServer("sw1", "p", "e", None)
    FakeServer.script = [[{"type": "stop", "run_id": "other"}], [run_cmd("r9")], [{"type": "stop", "run_id": "r1"}]]
    stop = threading.Event()
    pending: deque = deque()
    beat = TrialHeartbeat(server, "r1", 0.01, stop, pending)
    beat.start()
    assert stop.wait(2.0)
    beat.done.set()
    beat.join()
    assert server.beats[:3] == [{"r1": True}] * 3
    assert [c["run_id"] for c in pending] == ["r9"]
