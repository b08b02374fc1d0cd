"""An offline sweep whose trials are Elastic tasks (needs torch and flyteplugins-pytorch).

Each trial action is a pod that ``elastic_launch``es two workers; they join a gloo group, and the
trial's run follows ``rank_scope`` (global: rank 0 logs into the trial's run).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import flyte
import torch
import torch.distributed as dist

from flyteplugins.pytorch.task import Elastic
from flyteplugins.wandb import get_wandb_run, run_sweep_agents, wandb_init, wandb_sweep

env = flyte.TaskEnvironment(name="cluster_elastic_sweep", image="registry.example.com/flyte-wandb-torch:test")
elastic_env = flyte.TaskEnvironment(
    name="cluster_elastic_trial",
    image="registry.example.com/flyte-wandb-torch:test",
    plugin_config=Elastic(nnodes=1, nproc_per_node=2, max_restarts=0, monitor_interval=1),
)


@wandb_init  # run_mode="auto", rank_scope="global": rank 0 logs into the trial's run
@elastic_env.task
def elastic_trial(x: float) -> float:
    if not dist.is_initialized():
        dist.init_process_group("gloo")
    total = torch.tensor([float(dist.get_rank() + 1)])
    dist.all_reduce(total)
    loss = (x - 1.0) ** 2
    run = get_wandb_run()
    if run is not None:
        run.log({"loss": loss, "world": float(total.item())})
    out = Path(os.environ["CLUSTER_TEST_RESULTS"]) / f"trial-{os.environ['RANK']}-{os.getpid()}.json"
    out.write_text(json.dumps({"rank": int(os.environ["RANK"]), "run_id": getattr(run, "id", None), "x": x}))
    dist.barrier()
    dist.destroy_process_group()
    return loss


@wandb_sweep(
    project="cluster-elastic-sweep",
    entity="it",
    method="grid",
    metric={"name": "loss", "goal": "minimize"},
    parameters={"x": {"values": [0.0, 1.0]}},
)
@env.task
async def elastic_sweep() -> str:
    result = await run_sweep_agents.aio(elastic_trial, count=2, agents=2)
    (Path(os.environ["CLUSTER_TEST_RESULTS"]) / "sweep-elastic.json").write_text(json.dumps(result.to_dict()))
    return result.sweep_id
