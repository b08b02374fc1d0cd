"""Runs users open themselves beside tracked ones: a plain task's, and ``reinit="create_new"``.

Local mode and reusable containers (``flyte.ReusePolicy(concurrency=...)``) run sibling tasks in one
process. A task the plugin does not track keeps wandb's own behaviour: its ``wandb.run`` is None until
it calls ``wandb.init``, which opens a run of its own; none of its rows or config reach a tracked
sibling's run, and its ``wandb.finish()`` finishes only its own run. A separate run asked for inside
a tracked task whose run is offline (no credentials here) is offline too, instead of failing to log in.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import flyte
import pytest
import wandb
from frameworks.fw_common import BARRIERS, wait

from flyteplugins.wandb import get_wandb_run, wandb_init
from flyteplugins.wandb.testing import runs_by_id

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

env = flyte.TaskEnvironment(name="fw_untracked_sibling")


@wandb_init(run_mode="new")
@env.task
def tracked(tag: int, barrier: str) -> str:
    wait(barrier)  # every sibling is running: the plain task opens its run while ours is open
    wandb.log({"tracked": tag})
    wait(barrier)
    return get_wandb_run().id


@env.task
def plain(barrier: str) -> dict:
    wait(barrier)
    seen = wandb.run  # what Lightning's WandbLogger and HF's WandbCallback read before their init
    run = wandb.init(project="plain-project", mode="offline", config={"plain": True})
    wandb.log({"plain": 1})
    wandb.summary["plain_best"] = 2
    out = {"seen": seen is None, "id": run.id, "project": run.project}
    wandb.finish()
    wait(barrier)
    return out


@env.task
async def siblings(n_tracked: int, barrier: str) -> list:
    BARRIERS[barrier] = threading.Barrier(n_tracked + 1, timeout=60)
    return list(await asyncio.gather(plain.aio(barrier), *(tracked.aio(i, barrier) for i in range(n_tracked))))


@pytest.mark.parametrize("n_tracked", [1, 2])
def test_a_plain_task_beside_tracked_ones_gets_a_run_of_its_own(wandb_dir: Path, n_tracked: int) -> None:
    barrier = f"plain-{n_tracked}"
    out, *tracked_ids = flyte.with_runcontext(mode="local", name=barrier).run(siblings, n_tracked, barrier).outputs()[0]
    assert out["seen"], "a plain task saw a tracked sibling's run as wandb.run"
    by_id = runs_by_id(wandb_dir)
    assert sorted(by_id) == sorted([out["id"], *tracked_ids])
    [own] = by_id[out["id"]]
    assert own.project == "plain-project" and own.config["plain"] is True
    assert own.metric("plain") == [1] and own.summary["plain_best"] == 2
    assert own.exit_code == 0
    for tag, run_id in enumerate(tracked_ids):
        [run] = by_id[run_id]
        assert run.metric("tracked") == [tag] and run.metric("plain") == []
        assert "plain" not in run.config and "plain_best" not in run.summary
        assert run.exit_code == 0
    assert type(wandb).__name__ == "module" and wandb.run is None


@wandb_init
@env.task
def with_a_separate_run() -> list[str]:
    other = wandb.init(project="separate", reinit="create_new", config={"side": True})
    other.log({"side_loss": 1})
    wandb.log({"task_loss": 1})  # still the task's run: the separate one is not wandb.run
    other.finish()
    wandb.log({"task_loss": 2})
    return [get_wandb_run().id, other.id]


def test_a_separate_run_in_an_offline_task_is_offline_too(wandb_dir: Path) -> None:
    task_id, other_id = flyte.with_runcontext(mode="local", name="separate").run(with_a_separate_run).outputs()[0]
    by_id = runs_by_id(wandb_dir)
    [task_run], [other] = by_id[task_id], by_id[other_id]
    assert task_run.metric("task_loss") == [1, 2] and task_run.exit_code == 0
    assert other.project == "separate" and other.config["side"] is True
    assert other.metric("side_loss") == [1] and other.exit_code == 0


@wandb_init(run_mode="new")
@env.task
def tearing_down(tag: int, barrier: str) -> str:
    wandb.log({"before": tag})
    wait(barrier)
    if tag == 0:
        wandb.teardown()  # what a script written for multiprocessing ends with
    wait(barrier)
    wandb.log({"after": tag})  # the sibling's run, and this one, are still open
    return get_wandb_run().id


@env.task
async def two_tearing_down(barrier: str) -> list[str]:
    BARRIERS[barrier] = threading.Barrier(2, timeout=60)
    return list(await asyncio.gather(*(tearing_down.aio(i, barrier) for i in range(2))))


def test_wandb_teardown_in_a_task_leaves_the_tracked_runs_open(wandb_dir: Path) -> None:
    ids = flyte.with_runcontext(mode="local", name="teardown").run(two_tearing_down, "td").outputs()[0]
    by_id = runs_by_id(wandb_dir)
    for tag, run_id in enumerate(ids):
        [run] = by_id[run_id]
        assert run.metric("before") == [tag] and run.metric("after") == [tag]
        assert run.exit_code == 0
