"""Offline sweeps as a cluster runs them: the sweep task's pod drives the trials, each one a pod.

Imported by name in every pod (the trial pods import the objectives by module path). Needs
flyteplugins-wandb-sweeps.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import flyte

from flyteplugins.wandb import get_wandb_run, run_sweep_agents, wandb_init, wandb_sweep

env = flyte.TaskEnvironment(name="cluster_offline_sweep", image="registry.example.com/flyte-wandb:test")
GRID = {"a": {"values": [1, 2]}, "b": {"values": ["x", "y"]}}


def _record(name: str, data: dict) -> None:
    # What the tests read back: the sweep's result, written where the test collects observations.
    root = Path(os.environ["CLUSTER_TEST_RESULTS"])
    (root / f"sweep-{name}.json").write_text(json.dumps(data))


@wandb_init
def quadratic() -> None:
    run = get_wandb_run()
    run.log({"loss": (run.config["x"] - 1.3) ** 2, "pid": os.getpid()})


@wandb_init
def grid_objective() -> None:
    run = get_wandb_run()
    a, b = run.config["a"], run.config["b"]
    if (a, b) == (1, "y") and os.environ.get("SWEEP_FAIL_ONE"):
        raise ValueError(f"trial a={a} b={b} diverged")
    run.log({"score": a * 10 + (1 if b == "y" else 0), "pid": os.getpid()})


@wandb_init
def killer() -> None:
    """Kills the sweep task's pod during the third trial of the first attempt (a node going away)."""
    run = get_wandb_run()
    marker = Path(os.environ["CLUSTER_TEST_RESULTS"]) / "killed"
    if run.id.endswith("-002") and not marker.exists():
        marker.write_text(run.id)
        os.kill(os.getppid(), signal.SIGKILL)  # the sweep pod started this pod
        os._exit(137)
    run.log({"loss": abs(run.config["x"])})


@wandb_init
@env.task
def train_trial(a: int, b: str) -> float:
    """A trial as a Flyte task of its own (own image and resources): returns the sweep metric."""
    run = get_wandb_run()
    score = a * 10 + (1 if b == "y" else 0)
    run.log({"score": score})
    return float(score)


# The bayes search over x that both bayes sweeps below run (one over 15 trials, one over 9).
BAYES_X = {
    "project": "cluster-sweeps",
    "entity": "it",
    "method": "bayes",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"x": {"min": -5.0, "max": 5.0}},
}


def _summary(result) -> dict:  # type: ignore[no-untyped-def]
    data = result.to_dict()
    data["sweep_pid"] = os.getpid()
    return data


@wandb_sweep(**BAYES_X)
@env.task
async def bayes_sweep() -> str:
    import numpy as np

    np.random.seed(7)  # the engine samples with numpy's global generator, in this (the sweep) pod
    result = await run_sweep_agents.aio(quadratic, count=15, agents=3)
    _record("bayes", _summary(result))
    return result.sweep_id


@wandb_sweep(
    project="cluster-sweeps", entity="it", method="grid", metric={"name": "score", "goal": "maximize"}, parameters=GRID
)
@env.task
async def grid_sweep() -> str:
    result = await run_sweep_agents.aio(grid_objective, count=4, agents=4)
    _record("grid", _summary(result))
    return result.sweep_id


@wandb_sweep(
    project="cluster-sweeps", entity="it", method="grid", metric={"name": "score", "goal": "maximize"}, parameters=GRID
)
@env.task
def task_objective_sweep() -> str:
    result = run_sweep_agents(train_trial, count=4, agents=2)
    _record("task", _summary(result))
    return result.sweep_id


@wandb_sweep(
    project="cluster-sweeps",
    entity="it",
    method="random",
    metric={"name": "loss", "goal": "minimize"},
    parameters={"x": {"min": -5.0, "max": 5.0}},
)
@env.task
async def killed_sweep() -> str:
    result = await run_sweep_agents.aio(killer, count=6, agents=1)
    _record("killed", _summary(result))
    return result.sweep_id


@wandb_sweep(
    project="cluster-sweeps",
    entity="it",
    method="grid",
    metric={"name": "score", "goal": "minimize"},
    parameters=GRID,
    early_terminate={"type": "hyperband", "min_iter": 2},
)
@env.task
async def early_terminate_sweep() -> str:
    result = await run_sweep_agents.aio(grid_objective, count=4, agents=2)
    _record("hyperband", _summary(result))
    return result.sweep_id


@wandb_init
def quadratic_descent() -> None:
    """Three steps down to the trial's loss: a history of several rows for sync to bring whole."""
    run = get_wandb_run()
    loss = (run.config["x"] - 1.3) ** 2
    for step in range(3):
        run.log({"loss": loss + 2 - step, "step_x": run.config["x"]}, step=step)


@wandb_sweep(**BAYES_X)
@env.task
async def small_bayes_sweep() -> str:
    """Nine trials from three agents, each trial a pod of its own."""
    import numpy as np

    np.random.seed(7)  # the engine samples with numpy's global generator, in this (the sweep) pod
    result = await run_sweep_agents.aio(quadratic_descent, count=9, agents=3)
    return result.sweep_id


@wandb_sweep(
    project="cluster-sweeps",
    entity="it",
    method="grid",
    metric={"name": "score", "goal": "maximize"},
    parameters={"a": {"values": [1, 2]}, "b": {"values": ["y"]}},
)
@env.task
async def small_grid_sweep() -> str:
    """Two trials: the fewest pods that still make a sweep of several runs."""
    result = await run_sweep_agents.aio(grid_objective, count=2, agents=2)
    return result.sweep_id
