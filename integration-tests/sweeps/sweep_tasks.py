"""Tasks and objectives shared by the sweep integration tests (module level, so agents can import them)."""

from __future__ import annotations

import time

import flyte
import flyte.io

from flyteplugins.wandb import get_wandb_run, run_sweep_agents, wandb_init, wandb_sweep

env = flyte.TaskEnvironment(name="sweep-tests")

# Set by tests before a run: agents and trials read them (same process in local mode).
SETTINGS: dict = {
    "count": 4,
    "agents": 4,
    "poll_interval": 0.2,
    "fail_when": None,
    "no_metric_when": None,
    "sleep": 0.0,
}


@wandb_init
def grid_objective() -> None:
    run = get_wandb_run()
    a, b = run.config["a"], run.config["b"]
    fail_when = SETTINGS.get("fail_when")
    if fail_when is not None and (a, b) == tuple(fail_when):
        raise ValueError(f"trial a={a} b={b} diverged")
    if SETTINGS.get("sleep"):
        time.sleep(SETTINGS["sleep"])
    if SETTINGS.get("no_metric_when") is not None and (a, b) == tuple(SETTINGS["no_metric_when"]):
        run.log({"other": 1.0})
        return
    run.log({"score": a * 10 + (1 if b == "y" else 0)})


@wandb_init
def quadratic() -> None:
    run = get_wandb_run()
    x = run.config["x"]
    run.log({"loss": (x - 1.3) ** 2})


@wandb_init
def sleepy() -> None:
    run = get_wandb_run()
    time.sleep(SETTINGS.get("sleep") or 0.0)
    run.log({"loss": float(run.config["x"])})


@wandb_init
def curve() -> None:
    """Logs the same value for 6 steps: a worse x is worse at every step (hyperband fodder)."""
    run = get_wandb_run()
    for _ in range(6):
        run.log({"loss": float(run.config["x"])})


OBJECTIVES = {"grid": grid_objective, "quadratic": quadratic, "sleepy": sleepy, "curve": curve}


@wandb_sweep
@env.task
def sweep_sync(objective: str) -> str:
    result = run_sweep_agents(
        OBJECTIVES[objective],
        count=SETTINGS["count"],
        agents=SETTINGS["agents"],
        poll_interval=SETTINGS["poll_interval"],
    )
    SETTINGS["result"] = result
    return result.sweep_id


@wandb_sweep
@env.task
async def sweep_async(objective: str) -> str:
    SETTINGS["action"] = flyte.ctx().action.name
    result = await run_sweep_agents.aio(
        OBJECTIVES[objective],
        count=SETTINGS["count"],
        agents=SETTINGS["agents"],
        poll_interval=SETTINGS["poll_interval"],
    )
    SETTINGS["result"] = result
    return result.sweep_id


@wandb_sweep
@env.task
async def child_sweep() -> str:
    from flyteplugins.wandb import get_wandb_sweep_id

    return get_wandb_sweep_id() or ""


@wandb_sweep
@env.task
async def parent_sweep() -> list[str]:
    from flyteplugins.wandb import get_wandb_sweep_id

    return [get_wandb_sweep_id() or "", await child_sweep()]


@wandb_sweep(download_logs=True)
@env.task
async def sweep_with_logs(objective: str) -> flyte.io.Dir:
    result = await run_sweep_agents.aio(OBJECTIVES[objective], count=SETTINGS["count"], agents=SETTINGS["agents"])
    SETTINGS["result"] = result
    return result.logs


@wandb_sweep(download_logs=True)
@env.task
def sweep_with_logs_sync(objective: str) -> flyte.io.Dir:
    result = run_sweep_agents(OBJECTIVES[objective], count=SETTINGS["count"], agents=SETTINGS["agents"])
    SETTINGS["result"] = result
    return result.logs


def grid(project: str) -> dict:
    """The 2x2 grid most sweep tests run (4 trials), in ``project``."""
    return dict(
        method="grid",
        metric={"name": "score", "goal": "maximize"},
        parameters={"a": {"values": [1, 2]}, "b": {"values": ["x", "y"]}},
        project=project,
    )
