"""Tracked tasks run in pods by the cluster tests (imported by Flyte's resolver inside each pod).

Each task records what it saw (Flyte mode, action, its W&B run and the run's shared-mode settings,
whether a key reached it) in ``{CLUSTER_TEST_RESULTS}/obs-{action}.json`` for the test to check.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import flyte

from flyteplugins.wandb import get_wandb_run, wandb_init

# The platform injects the secret `wandb_api_key` as WANDB_API_KEY into every pod of these tasks.
env = flyte.TaskEnvironment(
    name="cluster_it",
    image="registry.example.com/flyte-wandb:test",
    secrets=[flyte.Secret(key="wandb_api_key", as_env_var="WANDB_API_KEY")],
)

PROJECT, ENTITY = "cluster-it", "it"


def observe(label: str, **extra: Any) -> dict[str, Any]:
    ctx = flyte.ctx()
    run = get_wandb_run()
    settings = getattr(run, "settings", None)
    entry = {
        "label": label,
        "pid": os.getpid(),
        "mode": ctx.mode,
        "action": ctx.action.name,
        "run_name": ctx.action.run_name,
        "custom_context": dict(ctx.custom_context or {}),
        "has_key": bool(os.environ.get("WANDB_API_KEY")),
        "run_id": getattr(run, "id", None),
        "project": getattr(run, "project", None),
        "offline": bool(getattr(settings, "_offline", False)) if settings is not None else None,
        "wandb_mode": getattr(settings, "mode", None),
        "x_primary": getattr(settings, "x_primary", None),
        "x_label": getattr(settings, "x_label", None),
        "x_update_finish_state": getattr(settings, "x_update_finish_state", None),
        **extra,
    }
    out = Path(os.environ["CLUSTER_TEST_RESULTS"]) / f"obs-{ctx.action.name}.json"
    out.write_text(json.dumps(entry))
    return entry


@wandb_init  # run_mode="auto": the parent's run, joined from this pod in W&B shared mode
@env.task
async def child(n: int) -> str:
    run = get_wandb_run()
    for i in range(n):
        run.log({"child/loss": 1.0 / (i + 1)})
    run.summary["child_done"] = True
    observe("child")
    return run.id


@wandb_init(run_mode="new")  # a run of its own
@env.task
async def child_new(n: int) -> str:
    run = get_wandb_run()
    run.log({"own/metric": float(n)})
    observe("child_new")
    return run.id


@wandb_init(project=PROJECT, entity=ENTITY, config={"lr": 0.1})
@env.task
async def parent(n: int) -> str:
    run = get_wandb_run()
    run.log({"parent/start": 1})
    shared_id = await child(n)
    own_id = await child_new(n)
    run.log({"parent/end": 1})
    observe("parent", child_run=shared_id, child_new_run=own_id)
    return run.id


@wandb_init(project=PROJECT, entity=ENTITY)
@env.task
async def solo(n: int) -> str:
    """A root task with no children: what a single tracked task sees on a cluster."""
    run = get_wandb_run()
    run.log({"solo/n": n})
    observe("solo")
    return run.id


@wandb_init(host="https://wandb.acme.internal/", project="vision", entity="research")
@env.task
async def selfhosted(n: int) -> int:
    """A task tracked on a self-hosted W&B server: its link names that server."""
    return n
