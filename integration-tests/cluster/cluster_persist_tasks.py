"""Offline tracked tasks whose runs are kept in the Flyte run's storage (test_persist_on_cluster.py).

Imported by Flyte's resolver inside each pod. No key reaches the pods of ``env``: every run there is
offline; ``online_env`` takes the key from the secret and starts online.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from pathlib import Path

import flyte

from flyteplugins.wandb import get_wandb_run, restore_wandb_checkpoint, save_wandb_checkpoint, wandb_init

env = flyte.TaskEnvironment(name="persist_it", image="registry.example.com/flyte-wandb:test")

PROJECT = "persist-it"

# Online tasks: the W&B key comes from the secret, as in a deployed environment.
online_env = flyte.TaskEnvironment(
    name="persist_it_online",
    image="registry.example.com/flyte-wandb:test",
    secrets=[flyte.Secret(key="wandb_api_key", as_env_var="WANDB_API_KEY")],
)


@wandb_init(project=PROJECT, run_mode="new")
@env.task
async def steps(n: int, tag: str) -> str:
    run = get_wandb_run()
    for i in range(n):
        run.log({"loss": 1.0 / (i + 1), "tag_len": len(tag)}, step=i)
    return str(run.id)


@wandb_init(project=PROJECT, run_mode="new", mode="offline")
@env.task
async def offline_steps(n: int, tag: str) -> str:
    """As `steps`, offline by its own setting: known at submit, so its link says where it is kept."""
    run = get_wandb_run()
    for i in range(n):
        run.log({"loss": 1.0 / (i + 1), "tag_len": len(tag)}, step=i)
    return str(run.id)


@wandb_init(project=PROJECT, run_mode="new", finish_timeout=3.0)
@online_env.task
async def outage_midway(n: int) -> str:
    """Logs half its steps online, then W&B dies (the test kills it when asked) and it logs the rest.
    A checkpoint with retention (which waits for W&B to commit it) is saved before and after."""
    run = get_wandb_run()
    results = Path(os.environ["CLUSTER_TEST_RESULTS"])
    state = results / "state.txt"
    for i in range(n):
        if i == n // 2:
            state.write_text(str(i - 1))
            save_wandb_checkpoint(state, step=i - 1, keep_last=1)
            (results / "kill-wandb").write_text(str(run.id))
            for _ in range(1200):  # the test answers within a minute
                if (results / "wandb-killed").exists():
                    break
                await asyncio.sleep(0.05)
        run.log({"loss": 1.0 / (i + 1)}, step=i)
    state.write_text(str(n - 1))
    save_wandb_checkpoint(state, step=n - 1, keep_last=1)
    return str(run.id)


@wandb_init(project=PROJECT)
@env.task
async def three(n: int) -> list[str]:
    """A tracked parent and three tracked children, each in a pod of its own: four offline runs (the
    last child's offline by its own ``mode=``, the others for want of a key)."""
    get_wandb_run().log({"parent/started": 1})
    return [await steps(n, "a"), await steps(n + 1, "b"), await offline_steps(n + 2, "c")]


@wandb_init(project=PROJECT)
@env.task
def checkpointed(total: int, stop_after: int, every: int = 1) -> int:
    """Trains to ``total`` steps, checkpointing every ``every`` steps (the last two kept); asks to be
    preempted after ``stop_after`` steps. Each row records the attempt that logged it.

    Returns the step it started from (0, or the restored checkpoint's step + 1).
    """
    results = Path(os.environ["CLUSTER_TEST_RESULTS"])
    run = get_wandb_run()
    attempt = flyte.ctx().attempt_number
    found = restore_wandb_checkpoint()
    start = found.step + 1 if found else 0
    (results / f"ckpt-start-{attempt}.txt").write_text(str(start))
    state = os.path.join(tempfile.mkdtemp(), "state.txt")
    for step in range(start, total):
        run.log({"loss": 1.0 / (step + 1), "attempt": attempt}, step=step)
        if step % every == 0:
            with open(state, "w") as f:
                f.write(str(step))
            save_wandb_checkpoint(state, step=step, keep_last=2)
        if step + 1 == stop_after:
            (results / "preempt-now").touch()  # the test sends this pod SIGTERM
            time.sleep(60)
    return start


@wandb_init(project=PROJECT, run_mode="new")
@env.task
async def deletes_its_folder(n: int) -> str:
    """Logs ``n`` steps, then its run folder is deleted (a cleanup of ./wandb) while the run is open."""
    run = get_wandb_run()
    for i in range(n):
        run.log({"loss": 1.0 / (i + 1)}, step=i)
    shutil.rmtree(os.path.dirname(str(run.dir).rstrip("/")))
    run.log({"loss": 0.0}, step=n)
    return str(run.id)


@wandb_init(project=PROJECT)  # run_mode="auto": the parent's run; offline, a part of it in this pod
@env.task
async def evaluates_at(step: int) -> None:
    get_wandb_run().log({"eval/acc": 0.5}, step=step)


@wandb_init(project=PROJECT)
@env.task
async def trains_then_evaluates(n: int) -> str:
    """Logs steps 0..n-1, then a child pod logs an evaluation at step 1 into the same (offline) run."""
    run = get_wandb_run()
    for i in range(n):
        run.log({"loss": 1.0 / (i + 1)}, step=i)
    await evaluates_at(1)
    return str(run.id)
