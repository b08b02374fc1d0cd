"""Quickstart: a tracked Flyte workflow, offline unless WANDB_API_KEY is set.

    python examples/quickstart.py

A parent task opens a W&B run; children show the three run modes:
- ``auto`` (default): logs into the parent's run,
- ``new``: opens a run of its own,
- ``shared``: joins the parent's run explicitly (an error without a tracked parent).
Without a key the runs are written to ./wandb/offline-run-* and the plugin prints the `wandb sync`
command that uploads them later.
"""

from __future__ import annotations

import asyncio
import math

import flyte

from flyteplugins.wandb import get_wandb_run, wandb_config, wandb_init

env = flyte.TaskEnvironment(name="wandb_quickstart")


@wandb_init  # run_mode="auto": the parent's run
@env.task
async def evaluate(epoch: int) -> float:
    accuracy = 1 - math.exp(-epoch / 2)
    get_wandb_run().log({"eval/accuracy": accuracy, "epoch": epoch})
    return accuracy


@wandb_init(run_mode="new", job_type="train")  # a run of its own per call
@env.task
async def train(lr: float) -> float:
    run = get_wandb_run()
    loss = 1.0
    for step in range(20):
        loss *= 1 - lr
        run.log({"loss": loss, "step": step})
    return loss


@wandb_init(run_mode="shared")  # explicitly the parent's run
@env.task
async def report(best_loss: float) -> str:
    run = get_wandb_run()
    run.summary["best_loss"] = best_loss
    return run.id


@wandb_init(config={"epochs": 3})
@env.task
async def pipeline() -> dict[str, float | str]:
    run = get_wandb_run()
    losses = await asyncio.gather(*(train(lr) for lr in (0.05, 0.1, 0.2)))
    run.log({"best_loss": min(losses)})
    accuracies = [await evaluate(epoch) for epoch in range(run.config["epochs"])]
    run_id = await report(min(losses))
    return {"run_id": run_id, "best_loss": min(losses), "final_accuracy": accuracies[-1]}


if __name__ == "__main__":
    flyte.init()
    result = flyte.with_runcontext(
        mode="local", custom_context=wandb_config(project="flyte-wandb-quickstart", tags=["quickstart"])
    ).run(pipeline)
    print(f"Result: {result.outputs()[0]}")
    print("Runs written under ./wandb (offline) or to W&B (with WANDB_API_KEY).")
