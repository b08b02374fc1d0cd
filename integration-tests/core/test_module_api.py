"""Plain ``wandb.log`` / ``wandb.run`` / ``wandb.config`` inside tracked code, also under concurrency."""

from __future__ import annotations

import asyncio
from pathlib import Path

import flyte
import wandb

from flyteplugins.wandb import get_wandb_run, wandb_init
from flyteplugins.wandb.testing import runs_by_id

env = flyte.TaskEnvironment(name="core_module_api")


@wandb_init(run_mode="new", config={"lr": 0.5})
@env.task
async def uses_module_api(i: int) -> dict:
    assert wandb.run is not None
    lr = wandb.config["lr"] if i == 0 else get_wandb_run().config["lr"]
    for step in range(3):
        await asyncio.sleep(0.01 * ((i + step) % 3))
        wandb.log({"i": i, "step": step, "lr": lr})
    return {"i": i, "id": get_wandb_run().id}


@wandb_init
@env.task
async def module_api_parent(n: int) -> list[dict]:
    return list(await asyncio.gather(*(uses_module_api(i) for i in range(n))))


def test_wandb_log_goes_to_the_calling_tasks_run(wandb_dir: Path) -> None:
    rows = flyte.with_runcontext(mode="local", name="mod").run(module_api_parent, 6).outputs()[0]
    by_id = runs_by_id(wandb_dir)
    for row in rows:
        [child] = by_id[row["id"]]
        assert child.metric("i") == [row["i"]] * 3
        assert child.metric("lr") == [0.5] * 3


@wandb_init(project="objective")
def objective(x: float) -> float:
    wandb.log({"loss": (x - 1) ** 2})
    return (x - 1) ** 2


def test_plain_objective_with_wandb_log(wandb_dir: Path) -> None:
    objective(3.0)
    objective(1.5)
    losses = sorted(r[0].metric("loss")[0] for r in runs_by_id(wandb_dir).values())
    assert losses == [0.25, 4.0]
    assert wandb.run is None
