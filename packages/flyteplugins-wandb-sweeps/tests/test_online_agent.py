"""The online agent loop's handling of server commands (fake server and trials: pure protocol logic)."""

from __future__ import annotations

import threading
from typing import ClassVar

import pytest

from flyteplugins.wandb_sweeps import _agent
from flyteplugins.wandb_sweeps._agent import AgentSpec, Launch
from flyteplugins.wandb_sweeps._results import Progress, TrialResult


class FakeServer:
    """Replays scripted heartbeat answers; records what the agent reported."""

    script: ClassVar[list[list[dict]]] = []

    def __init__(self, spec: AgentSpec) -> None:
        self.spec = spec
        self.beats: list[dict] = []
        FakeServer.last = self

    def heartbeat(self, running: dict) -> list[dict]:
        self.beats.append(dict(running))
        return FakeServer.script.pop(0) if FakeServer.script else []


def run_cmd(run_id: str, **params) -> dict:
    return {"type": "run", "run_id": run_id, "args": {k: {"value": v} for k, v in params.items()}}


@pytest.fixture
def fake(monkeypatch):
    ran: list[tuple[str, dict, dict]] = []

    def fake_trial(objective, *, agent, run_id, params, overrides, metric_name, stop=None, observe=None):
        ran.append((run_id, params, overrides))
        return TrialResult(run_id=run_id, params=params, metric=float(len(ran)), agent=agent), {}

    monkeypatch.setattr(_agent, "ServerAgent", FakeServer)
    monkeypatch.setattr(_agent, "run_trial", fake_trial)
    return ran


def spec(**kw) -> AgentSpec:
    base = dict(
        launch="t",
        agent=0,
        sweep_id="sw1",
        mode="online",
        objective="m:f",
        project="p",
        entity="e",
        metric_name="loss",
        quota=10,
        total=10,
        poll_interval=0.0,
        idle_timeout=5.0,
    )
    base.update(kw)
    return AgentSpec(**base)


def test_runs_commands_with_the_sweep_attached_and_stops_on_exit(fake):
    FakeServer.script = [
        [run_cmd("r1", lr=0.1)],
        [],
        [run_cmd("r2", lr=0.2), run_cmd("ignored")],
        [{"type": "exit"}],
    ]
    results = _agent._online_agent(spec(), lambda: None, None)
    assert [r.run_id for r in results] == ["r1", "r2"]
    assert fake[0][1] == {"lr": 0.1}
    assert fake[0][2] == {
        "id": "r1",
        "config": {"lr": 0.1},
        "mode": "online",
        "settings": {"sweep_id": "sw1"},
        "project": "p",
        "entity": "e",
    }
    assert FakeServer.last.beats[-1] == {}  # leaves the server with nothing marked running


def test_quota_limits_trials_without_a_shared_launch(fake):
    FakeServer.script = [[run_cmd(f"r{i}")] for i in range(5)]
    results = _agent._online_agent(spec(quota=2), lambda: None, None)
    assert [r.run_id for r in results] == ["r0", "r1"]


def test_shared_budget_across_agents_of_one_launch(fake):
    FakeServer.script = [[run_cmd(f"r{i}")] for i in range(5)]
    launch = Launch(progress=Progress("sw1", 3, "loss", "minimize"), budget=3)
    _agent._online_agent(spec(quota=10), lambda: None, launch)
    assert [r.run_id for r in launch.results] == ["r0", "r1", "r2"]
    assert launch.budget == 0


def test_exit_gives_the_claimed_trial_back_to_the_other_agents(fake):
    FakeServer.script = [[run_cmd("r0")], [{"type": "exit"}]]
    launch = Launch(progress=Progress("sw1", 3, "loss", "minimize"), budget=3)
    _agent._online_agent(spec(quota=10), lambda: None, launch)
    assert [r.run_id for r in launch.results] == ["r0"]
    assert launch.budget == 2


def test_idle_agent_gives_up_after_idle_timeout(fake):
    FakeServer.script = []
    assert _agent._online_agent(spec(idle_timeout=0.05, poll_interval=0.01), lambda: None, None) == []


def test_stop_command_during_a_trial_sets_the_stop_flag_and_queues_new_runs():
    server = FakeServer(spec())
    FakeServer.script = [
        [{"type": "stop", "run_id": "other"}],
        [run_cmd("r9")],
        [{"type": "stop", "run_id": "r1"}],
    ]
    stop = threading.Event()
    pending: list = []
    beat = _agent._TrialHeartbeat(server, "r1", 0.01, stop, pending)  # type: ignore[arg-type]
    beat.start()
    assert stop.wait(2.0)
    beat.done.set()
    beat.join()
    assert server.beats[:3] == [{"r1": True}] * 3
    assert [c["run_id"] for c in pending] == ["r9"]
