"""wandb's module-level API (``wandb.log``, ``wandb.config``, ``wandb.summary``) keeps to the caller's run.

Real threads, real Flyte local mode, and the offline run files read back.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import flyte
import pytest
import wandb

from flyteplugins.wandb import get_wandb_run, wandb_config, wandb_init
from flyteplugins.wandb.testing import runs_by_id
from flyteplugins.wandb_core._globals import RunRoutingError
from flyteplugins.wandb_core._state import trial_scope

pytestmark = pytest.mark.integration

env = flyte.TaskEnvironment(name="core_routing")
LRS = (0.1, 0.2, 0.3, 0.4)


def _run(task: Any, *args: Any, name: str) -> Any:
    return flyte.with_runcontext(mode="local", name=name).run(task, *args).outputs()[0]


# -- concurrent tasks each read their own wandb.config -------------------------------------------


@wandb_init(run_mode="new")
@env.task
async def reads_config(i: int) -> dict:
    seen = []
    for step in range(4):
        # Interleave with the siblings so every run is open while the others read.
        await asyncio.sleep(0.01 * ((i + step) % 3))
        seen.append(wandb.config.lr)
        wandb.log({"lr_seen": wandb.config["lr"], "i": i})
        wandb.summary["last_i"] = i
    return {"id": get_wandb_run().id, "seen": seen}


async def _with_lr(i: int, lr: float) -> dict:
    with wandb_config(config={"lr": lr}):
        return await reads_config(i)


@wandb_init
@env.task
async def fan_out() -> list[dict]:
    return list(await asyncio.gather(*(_with_lr(i, lr) for i, lr in enumerate(LRS))))


def test_concurrent_tasks_read_their_own_wandb_config(wandb_dir: Path) -> None:
    rows = _run(fan_out, name="cfg")
    by_id = runs_by_id(wandb_dir)
    for i, (row, lr) in enumerate(zip(rows, LRS, strict=True)):
        assert row["seen"] == [lr] * 4
        [run] = by_id[row["id"]]
        assert run.config["lr"] == lr
        assert run.metric("lr_seen") == [lr] * 4 and run.metric("i") == [i] * 4
        assert run.summary["last_i"] == i


# -- in-process sweep trials in threads: the standard `wandb.config.lr` objective ----------------


def test_concurrent_in_process_trials_each_see_their_own_parameters(wandb_dir: Path) -> None:
    everyone_open = threading.Barrier(len(LRS))

    @wandb_init(project="trials", mode="offline")
    def objective() -> float:
        everyone_open.wait(timeout=60)  # all trial runs are open before any reads its config
        lr = wandb.config.lr
        wandb.log({"loss": (lr - 0.25) ** 2, "lr": lr})
        return lr

    def trial(lr: float) -> tuple[float, str | None]:
        with trial_scope(config={"lr": lr}) as handle:
            seen = objective()
        return seen, handle.run_id

    with ThreadPoolExecutor(len(LRS)) as pool:
        results = list(pool.map(trial, LRS))
    assert [seen for seen, _ in results] == list(LRS)
    by_id = runs_by_id(wandb_dir)
    for lr, (_, run_id) in zip(LRS, results, strict=True):
        [run] = by_id[run_id]
        assert run.config["lr"] == lr and run.metric("lr") == [lr]


# -- code outside any task context -----------------------------------------------------------------


def _in_bare_thread(fn: Any) -> BaseException | None:
    """Run ``fn`` in a plain thread (no contextvars copied); the exception it raised, if any."""
    box: list[BaseException] = []

    def target() -> None:
        try:
            fn()
        except BaseException as exc:
            box.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    return box[0] if box else None


@wandb_init(run_mode="new")
@env.task
async def worker_threads(tag: int) -> dict:
    bare = _in_bare_thread(lambda: wandb.log({"bare": tag}))
    bare_config = _in_bare_thread(lambda: wandb.config.lr)
    # Propagated context: the documented fix.
    ctx = contextvars.copy_context()
    propagated = _in_bare_thread(lambda: ctx.run(wandb.log, {"propagated": tag}))
    loop = asyncio.get_running_loop()
    try:  # run_in_executor does not copy the context either
        await loop.run_in_executor(None, lambda: wandb.log({"executor": tag}))
        executor = None
    except RunRoutingError as exc:
        executor = exc
    await asyncio.to_thread(wandb.log, {"to_thread": tag})  # asyncio.to_thread copies it
    return {
        "id": get_wandb_run().id,
        "bare": repr(bare),
        "bare_config": repr(bare_config),
        "propagated": repr(propagated),
        "executor": repr(executor),
    }


@wandb_init
@env.task
async def parent_with_worker_threads() -> dict:
    child = await worker_threads(7)
    return {"parent": get_wandb_run().id, **child}


def test_context_free_code_with_several_runs_open_gets_a_clear_error(wandb_dir: Path) -> None:
    out = _run(parent_with_worker_threads, name="thr")
    for key in ("bare", "bare_config", "executor"):
        assert "RunRoutingError" in out[key], out[key]
        assert "get_wandb_run()" in out[key] and "contextvars.copy_context()" in out[key]
    assert out["propagated"] == "None"
    by_id = runs_by_id(wandb_dir)
    [child], [parent] = by_id[out["id"]], by_id[out["parent"]]
    assert child.metric("propagated") == [7] and child.metric("to_thread") == [7]
    # Nothing landed in the parent's run, and nothing was written from the refused calls.
    assert parent.history == []
    assert child.metric("bare") == [] and child.metric("executor") == []


@wandb_init(project="single")
@env.task
async def only_run() -> str:
    error = _in_bare_thread(lambda: wandb.log({"from_thread": 1}))
    assert error is None, repr(error)
    return get_wandb_run().id


def test_context_free_code_with_one_run_open_logs_into_it(wandb_dir: Path) -> None:
    run_id = _run(only_run, name="one")
    [run] = runs_by_id(wandb_dir)[run_id]
    assert run.metric("from_thread") == [1]
