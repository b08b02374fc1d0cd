"""wandb.watch's gradient hooks in two tracked tasks at once, with backward on threads of no task.

wandb's torch hooks log through the global ``wandb.run``. On a GPU, autograd runs backward hooks on
its own device threads, which belong to no task; with two tracked runs open in the process (local
mode, sweep trials, a reusable container with concurrency) such a read has no caller to route by.
On CPU, backward runs hooks on the calling thread, so a bare ``threading.Thread`` (it inherits no
context, as autograd's threads do not) stands in for autograd's device thread here.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import flyte
import pytest
import torch
import wandb
from frameworks.fw_common import BARRIERS, wait

from flyteplugins.wandb import get_wandb_run, wandb_init
from flyteplugins.wandb.testing import runs_by_id

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

env = flyte.TaskEnvironment(name="fw_watch")
STEPS = 3


def _backward_on_a_bare_thread(model: torch.nn.Module, x: torch.Tensor) -> list[BaseException]:
    errors: list[BaseException] = []

    def step() -> None:
        try:
            model(x).pow(2).mean().backward()
        except BaseException as exc:  # reported to the task, which fails the test with it
            errors.append(exc)

    worker = threading.Thread(target=step)
    worker.start()
    worker.join(60)
    return errors


@wandb_init(run_mode="new")
@env.task
def watched(tag: int, barrier: str) -> dict:
    torch.manual_seed(tag)
    model = torch.nn.Linear(4, 1)
    wandb.watch(model, log="gradients", log_freq=1)
    wait(barrier)  # both runs are open before either backward pass
    errors: list[str] = []
    for _ in range(STEPS):
        errors += [repr(e) for e in _backward_on_a_bare_thread(model, torch.randn(8, 4))]
        get_wandb_run().log({"tag": float(tag)})  # commits the row the hooks added to
    wait(barrier)
    return {"id": get_wandb_run().id, "errors": errors}


@wandb_init
@env.task
async def two_watched(barrier: str) -> list[dict]:
    BARRIERS[barrier] = threading.Barrier(2, timeout=120)
    return list(await asyncio.gather(*(watched.aio(i, barrier) for i in range(2))))


def test_gradient_hooks_on_threads_of_no_task_log_into_the_watched_models_run(wandb_dir: Path) -> None:
    outs = flyte.with_runcontext(mode="local", name="fw-watch").run(two_watched, "watch").outputs()[0]
    by_id = runs_by_id(wandb_dir)
    models = []
    for tag, out in enumerate(outs):
        assert out["errors"] == []
        [run] = by_id[out["id"]]
        rows = [r for r in run.history if "tag" in r]
        assert len(rows) == STEPS and {r["tag"] for r in rows} == {float(tag)}
        # Every committed row carries gradient histograms of one model (wandb names each watched
        # model's keys gradients/graph_<n><param>/...): this task's, none of the sibling's.
        keys = [{k.split("/")[1] for k in r if k.startswith("gradients/")} for r in rows]
        assert all(len(k) == 2 and any(n.endswith("weight") for n in k) for k in keys), keys
        [model] = {n.removesuffix("weight").removesuffix("bias") for k in keys for n in k}
        models.append(model)
        assert run.exit_code == 0
    assert len(set(models)) == 2
