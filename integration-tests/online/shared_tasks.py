"""Tasks run as separate "pods" (cluster_pod) against the loopback W&B server: one run, two writers.

Imported by module name inside each pod, as Flyte's resolver does. Each task records what it saw in
``{CLUSTER_TEST_RESULTS}/obs-{action}.json``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import flyte

from flyteplugins.wandb import get_wandb_run, wandb_init

# The platform injects the secret as WANDB_API_KEY; WANDB_BASE_URL comes from the node's environment.
env = flyte.TaskEnvironment(
    name="online_shared",
    image="registry.example.com/flyte-wandb:test",
    secrets=[flyte.Secret(key="wandb_api_key", as_env_var="WANDB_API_KEY")],
)


def observe(label: str) -> None:
    ctx = flyte.ctx()
    settings = get_wandb_run().settings
    entry = {
        "label": label,
        "pid": os.getpid(),
        "mode": ctx.mode,
        "action": ctx.action.name,
        "run_id": get_wandb_run().id,
        "wandb_mode": settings.mode,
        "x_primary": settings.x_primary,
        "x_label": settings.x_label,
        "x_update_finish_state": settings.x_update_finish_state,
    }
    (Path(os.environ["CLUSTER_TEST_RESULTS"]) / f"obs-{ctx.action.name}.json").write_text(json.dumps(entry))


@wandb_init  # run_mode="auto": joins the parent's run from its own pod
@env.task
async def child(n: int) -> str:
    run = get_wandb_run()
    for i in range(n):
        run.log({"child/loss": 1.0 / (i + 1)})
    run.summary["child_done"] = True
    observe("child")
    return run.id


@wandb_init(project="shared-it", entity="it", config={"lr": 0.1})
@env.task
async def parent(n: int) -> str:
    run = get_wandb_run()
    run.log({"parent/start": 1})
    child_run = await child(n)
    run.log({"parent/end": 1})
    run.summary["parent_done"] = True
    observe("parent")
    return child_run


@wandb_init(project="shared-it", entity="it")
@env.task
async def parent_fails(n: int) -> str:
    run = get_wandb_run()
    run.log({"parent/start": 1})
    await child(n)
    observe("parent")
    raise ValueError("parent fails after its child")
