"""Tracked Elastic tasks for the cluster tests (needs torch and flyteplugins-pytorch).

Run in a pod, each task goes through ``TorchFunctionTask.execute``'s non-local path:
``elastic_launch`` starts ``nproc_per_node`` worker processes, each unpickles the task function (our
``@wandb_init`` wrapper, cloudpickled by the plugin) and calls it inside the pod's task context. Every
rank records what it saw in ``{CLUSTER_TEST_RESULTS}/elastic-{action}-rank-{RANK}.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import flyte
import torch
import torch.distributed as dist

from flyteplugins.pytorch.task import Elastic
from flyteplugins.wandb import get_wandb_run, wandb_init

PROJECT, ENTITY = "cluster-elastic", "it"
STEPS = 3

env = flyte.TaskEnvironment(
    name="cluster_elastic",
    image="registry.example.com/flyte-wandb-torch:test",
    # Workers restart as a group on failure; the tests expect one clean attempt.
    plugin_config=Elastic(nnodes=1, nproc_per_node=2, max_restarts=0, monitor_interval=1),
    secrets=[flyte.Secret(key="wandb_api_key", as_env_var="WANDB_API_KEY")],
)


def _work(label: str, *, in_event_loop: bool = False) -> str:
    if not dist.is_initialized():
        dist.init_process_group("gloo")
    total = torch.tensor([float(dist.get_rank() + 1)])
    dist.all_reduce(total)  # every rank gets here, whatever W&B does on the others
    run = get_wandb_run()
    if run is not None:
        for step in range(STEPS):
            run.log({"rank": int(os.environ["RANK"]), "allreduce": float(total.item()), "step_i": step})
    ctx = flyte.ctx()
    settings = getattr(run, "settings", None)
    entry: dict[str, Any] = {
        "label": label,
        "rank": int(os.environ["RANK"]),
        "local_rank": int(os.environ["LOCAL_RANK"]),
        "world_size": int(os.environ["WORLD_SIZE"]),
        "torchelastic_run_id": os.environ.get("TORCHELASTIC_RUN_ID"),
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "mode": ctx.mode,
        "action": ctx.action.name,
        "run_name": ctx.action.run_name,
        "got_run": run is not None,
        "run_id": getattr(run, "id", None),
        "group": getattr(run, "group", None) or None,
        "offline": bool(getattr(settings, "_offline", False)) if settings is not None else None,
        "x_label": getattr(settings, "x_label", None),
        "x_primary": getattr(settings, "x_primary", None),
        "allreduce": float(total.item()),
        "in_event_loop": in_event_loop,
    }
    dist.barrier()  # no rank leaves (and tears down) while another still logs
    dist.destroy_process_group()
    out = Path(os.environ["CLUSTER_TEST_RESULTS"]) / f"elastic-{ctx.action.name}-rank-{entry['rank']}.json"
    out.write_text(json.dumps(entry))
    return json.dumps(entry)


@wandb_init(project=PROJECT, entity=ENTITY)  # run_mode="auto", rank_scope="global": rank 0 logs
@env.task
def train_auto() -> str:
    return _work("auto/global")


@wandb_init(project=PROJECT, entity=ENTITY, run_mode="new")  # a run per rank, grouped
@env.task
def train_new() -> str:
    return _work("new/global")


@wandb_init(project=PROJECT, entity=ENTITY, run_mode="shared")  # every rank writes to one run
@env.task
def train_shared() -> str:
    return _work("shared/global")


# Its own environment, so the deployment tests of `env` above see exactly the three `def` tasks.
env_async = flyte.TaskEnvironment(
    name="cluster_elastic_async",
    image="registry.example.com/flyte-wandb-torch:test",
    plugin_config=Elastic(nnodes=1, nproc_per_node=2, max_restarts=0, monitor_interval=1),
)


@wandb_init(project=PROJECT, entity=ENTITY, rank_scope="global")  # the seeds' async Elastic example
@env_async.task
async def train_async() -> str:
    # Flyte's Elastic plugin calls the function in each worker without awaiting it: the tracked
    # wrapper drives the coroutine to its end there, on an event loop of its own.
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    return _work("async/auto/global", in_event_loop=loop is not None)


# Two nodes of two processes: deployed (links per worker), never launched here (one machine, one node).
env_multi = flyte.TaskEnvironment(
    name="cluster_elastic_multi",
    image="registry.example.com/flyte-wandb-torch:test",
    plugin_config=Elastic(nnodes=2, nproc_per_node=2),
    secrets=[flyte.Secret(key="wandb_api_key", as_env_var="WANDB_API_KEY")],
)


@wandb_init(project=PROJECT, entity=ENTITY, rank_scope="worker")  # one run per node, by its local rank 0
@env_multi.task
def train_per_worker() -> str:
    return _work("auto/worker")
