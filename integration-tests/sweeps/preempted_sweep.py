"""A grid sweep whose later trials wait to be preempted: run as a script (a sweep task's pod that gets a
SIGTERM), then imported by the test, which runs the same sweep task again in its own process."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import flyte

from flyteplugins.wandb import get_wandb_run, run_sweep_agents, wandb_init, wandb_sweep, wandb_sweep_config

env = flyte.TaskEnvironment(name="preempted-sweep")
RESULT: dict = {}
# Trials with x at or above this log one row, say they started (a marker file), then wait for the SIGTERM.
SLOW_FROM = "PREEMPT_SLOW_FROM"


@wandb_init
def objective() -> None:
    run = get_wandb_run()
    x = run.config["x"]
    run.log({"loss": float(x)})
    slow_from = os.environ.get(SLOW_FROM)
    if slow_from is not None and x >= int(slow_from):
        Path(f"started-{x}").touch()
        time.sleep(120)


@wandb_sweep
@env.task
def sweep() -> str:
    RESULT["result"] = result = run_sweep_agents(objective, count=4, agents=2)
    return result.sweep_id


def launch() -> flyte.Run:
    config = wandb_sweep_config(
        method="grid",
        metric={"name": "loss", "goal": "minimize"},
        parameters={"x": {"values": [0, 1, 2, 3]}},
        project="sweeps-it",
    )
    return flyte.with_runcontext(mode="local", name="preempted", custom_context=config).run(sweep)


if __name__ == "__main__":
    flyte.init()
    launch()
    sys.exit(0)
