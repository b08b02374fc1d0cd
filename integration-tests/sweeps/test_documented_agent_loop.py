"""The pattern the seeds document: ``wandb.agent(get_wandb_sweep_id(), function=objective, count=N)``
inside a ``@wandb_sweep`` task, with a ``@wandb_init`` objective that reads ``get_wandb_run().config``
and logs with plain ``wandb.log``. Checked on the loopback W&B server."""

from __future__ import annotations

import flyte
import wandb

from flyteplugins.wandb import (
    get_wandb_run,
    get_wandb_sweep_id,
    wandb_config,
    wandb_init,
    wandb_sweep,
    wandb_sweep_config,
)

env = flyte.TaskEnvironment(name="documented_agent_loop")


@wandb_init
def objective() -> None:
    run = get_wandb_run()
    config = run.config
    wandb.log({"loss": (config.lr - 0.01) ** 2, "batch_size": config.batch_size})


@wandb_sweep
@env.task
def run_sweep() -> str:
    sweep_id = get_wandb_sweep_id()
    wandb.agent(sweep_id, function=objective, count=3)
    return sweep_id


def test_wandb_agent_loop_in_a_sweep_task(wandb_server) -> None:
    context = {
        **wandb_config(project="doc-sweep"),
        **wandb_sweep_config(
            method="grid",
            metric={"name": "loss", "goal": "minimize"},
            parameters={"lr": {"values": [0.001, 0.01, 0.1]}, "batch_size": {"value": 32}},
            project="doc-sweep",
        ),
    }
    sweep_id = flyte.with_runcontext(mode="local", name="doc", custom_context=context).run(run_sweep).outputs()[0]
    sweep = wandb_server.sweep(sweep_id)
    runs = [wandb_server.run(name, project="doc-sweep") for name in sweep.run_names]
    assert len(runs) == 3
    assert sorted(r.config["lr"] for r in runs) == [0.001, 0.01, 0.1]
    for r in runs:
        assert r.sweep == sweep_id and r.exit_code == 0
        assert abs(r.summary["loss"] - (r.config["lr"] - 0.01) ** 2) < 1e-12
        assert r.summary["batch_size"] == 32
