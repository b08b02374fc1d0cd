"""A W&B sweep on a cluster, online: the sweep task in one pod, each trial an action in a pod of its own.

The sweep task's pod registers the agents with the loopback W&B server (the sweep controller) and
heartbeats for them; each run command becomes a trial action of the sweeps package's
``sweep_agent_env``. The key reaches pods only as injected secrets.
"""

from __future__ import annotations

import json
from typing import Any

import cluster_pod
import pytest

pytest.importorskip("flyteplugins.wandb_sweeps", reason="flyteplugins-wandb-sweeps is not installed")
loopback = pytest.importorskip("wandb_loopback", reason="the loopback W&B server needs graphql-core")

import cluster_sweep_tasks as cs  # noqa: E402

pytestmark = pytest.mark.integration


def _run(task: Any, run_name: str, root: Any) -> tuple[cluster_pod.RunResult, Any]:
    server = loopback.LoopbackServer().start()
    try:
        env = server.env()
        key = env.pop("WANDB_API_KEY")
        with cluster_pod.isolated_env(root, **env):
            result = cluster_pod.run_root(
                task, run_name=run_name, base_dir=root / "run", secrets={"wandb_api_key": key}, timeout=300
            )
        return result, server
    except BaseException:
        server.stop()
        raise


@pytest.fixture(scope="module")
def sweep_run(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    result, server = _run(cs.sweep, "sw-cluster", tmp_path_factory.mktemp("sweep"))
    try:
        assert result.error is None, result.error
        yield result, server
    finally:
        server.stop()


def test_each_trial_is_an_action_in_its_own_pod(sweep_run) -> None:  # type: ignore[no-untyped-def]
    result, server = sweep_run
    pods = result.pods()
    assert pods[0]["action"] == "a0"
    assert len(pods) == 5 and all(p["returncode"] == 0 for p in pods)  # the sweep task + 4 trials
    (sweep,) = server.sweeps()
    # The sweep task's pod holds the agents (2 concurrency slots), heartbeating for its trials.
    assert len(sweep.agents) == 2
    assert all(agent.heartbeats > 0 for agent in sweep.agents.values())


def test_trials_are_online_runs_of_the_sweep(sweep_run) -> None:  # type: ignore[no-untyped-def]
    result, server = sweep_run
    (sweep,) = server.sweeps()
    assert sweep.config["name"] == "sw-cluster-a0"
    trials = server.runs(project="cluster-sweep")
    assert len(trials) == 4 and {t.sweep for t in trials} == {sweep.name}
    assert all(t.state == "finished" and t.exit_code == 0 for t in trials)
    best = min(trials, key=lambda t: t.metric("loss")[-1])
    assert json.loads(result.value) == {"trials": 4, "best": {"x": best.config["x"]}}


def test_links_point_at_the_sweep_and_the_trial_run(sweep_run) -> None:  # type: ignore[no-untyped-def]
    result, server = sweep_run
    (sweep,) = server.sweeps()
    trials = {t.id for t in server.runs(project="cluster-sweep")}
    runs_linked = set()
    for pod in (p for p in result.pods() if p["action"] != "a0"):
        links = dict(map(tuple, pod["links"]))
        assert links["Weights & Biases Sweep"] == f"{server.url}/it/cluster-sweep/sweeps/{sweep.name}"
        runs_linked.add(links["Weights & Biases"].rsplit("/runs/", 1)[1])
    assert runs_linked == trials


def test_agents_get_the_key_without_an_override(tmp_path_factory: pytest.TempPathFactory) -> None:
    result, server = _run(cs.sweep_default_agents, "sw-default", tmp_path_factory.mktemp("sweep-default"))
    server.stop()
    assert result.error is None, result.error
