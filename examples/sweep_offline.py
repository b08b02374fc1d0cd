"""An air-gapped W&B sweep: bayes search on 4 parallel Flyte agent tasks, no W&B server needed.

    python examples/sweep_offline.py

W&B's sweep controller normally lives on the W&B server. Here the sweep runs offline: the sweep
task drives W&B's open-source search engine (the `sweeps` package), each trial is an offline W&B run
whose config holds its parameters, grouped under the sweep id, and `wandb sync` uploads them all
later. With WANDB_API_KEY set (and no mode="offline"), the same code runs online with the W&B server
as the controller.
"""

from __future__ import annotations

import math
import os

import flyte

from flyteplugins.wandb import (
    get_wandb_run,
    get_wandb_sweep_id,
    run_sweep_agents,
    wandb_init,
    wandb_sweep,
    wandb_sweep_config,
)

env = flyte.TaskEnvironment(name="wandb_sweep_offline")


@wandb_init
def train() -> None:
    """One trial: a toy 'training' whose validation loss depends on lr and depth."""
    run = get_wandb_run()
    lr, depth = run.config["lr"], run.config["depth"]
    for epoch in range(5):
        loss = (math.log10(lr) + 2.5) ** 2 + 0.1 * abs(depth - 4) + 1.0 / (epoch + 1)
        # Log through the trial's run (not wandb.log): agents share this process in local mode.
        run.log({"val_loss": loss, "epoch": epoch})


@wandb_sweep(mode="offline")
@env.task
async def sweep() -> str:
    print(f"sweep id: {get_wandb_sweep_id()}")
    result = await run_sweep_agents.aio(train, count=16, agents=4)
    print(result)
    return f"best {result.best.params} val_loss={result.best.metric:.4f} ({result.best.run_id})"


if __name__ == "__main__":
    os.environ.setdefault("WANDB_SILENT", "true")
    flyte.init()
    run = flyte.with_runcontext(
        mode="local",
        custom_context=wandb_sweep_config(
            method="bayes",
            metric={"name": "val_loss", "goal": "minimize"},
            parameters={
                "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1},
                "depth": {"values": [2, 3, 4, 5, 6]},
            },
            project="flyte-sweep-offline",
        ),
    ).run(sweep)
    print(run.outputs()[0])
    print("upload the trials later with: wandb sync wandb/offline-run-*")
