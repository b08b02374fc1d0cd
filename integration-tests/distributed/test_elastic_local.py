"""Tracked tasks with the real ``Elastic`` plugin config, in Flyte's local mode (one process, no torchrun).

Local mode runs an Elastic task by calling its function straight from ``TorchFunctionTask.execute``,
without launching workers and without awaiting it. What a user sees there, and at decoration, matches
the documented behaviour (the seeds' distributed limitations) and upstream 2.12.1's links:

- an ``async def`` body runs to its end (upstream: its output is an un-awaited coroutine);
- a single-node Elastic task gets exactly one link, a multi-node ``rank_scope="worker"`` one per node;
- the links are distributed links (the task's own run or group, never a parent's) whenever the Elastic
  config asks for more than one process, for both rank scopes;
- ``download_logs=True`` warns and downloads nothing, even when set through ``wandb_config``.
"""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch", reason="torch is not installed: see integration-tests/distributed/README.md")
pytest.importorskip("flyteplugins.pytorch", reason="flyteplugins-pytorch (Flyte's Elastic plugin) is not installed")
pytest.importorskip("flyteplugins.wandb_distributed", reason="flyteplugins-wandb-distributed is not installed")

import flyte

from flyteplugins.pytorch.task import Elastic
from flyteplugins.wandb import Wandb, get_wandb_run, wandb_config, wandb_init
from flyteplugins.wandb.testing import read_offline_runs

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

_envs = iter(range(10_000))


def elastic_env(nnodes: Any, nproc: int) -> flyte.TaskEnvironment:
    return flyte.TaskEnvironment(
        name=f"el_local_{next(_envs)}", plugin_config=Elastic(nnodes=nnodes, nproc_per_node=nproc)
    )


def rendered(task: Any, context: dict[str, str] | None = None) -> list[tuple[str, str]]:
    return [
        (
            link.name,
            link.get_link(
                run_name="r",
                project="fp",
                domain="dev",
                context=context or {},
                parent_action_name="",
                action_name="a0",
                pod_name="p",
            ),
        )
        for link in task.links
    ]


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "GROUP_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    flyte.init()
    return tmp_path / "wandb"


def test_async_elastic_task_runs_its_body_in_local_mode(offline: Path) -> None:
    env = elastic_env(1, 2)

    @wandb_init(project="p", entity="e", rank_scope="global")
    @env.task
    async def train(steps: int) -> int:
        await asyncio.sleep(0)
        run = get_wandb_run()
        assert run is not None
        for step in range(steps):
            run.log({"step_i": step})
        return steps * 10

    outer = flyte.TaskEnvironment(name="el_local_parent", depends_on=[env])

    @outer.task
    async def parent() -> int:
        # Called as a child, and through `.override()` (which re-reads whether the task is async).
        return await train(2) + await train.override(short_name="again")(3)

    assert flyte.with_runcontext(mode="local", name="solo").run(train, 3).outputs()[0] == 30
    assert flyte.with_runcontext(mode="local", name="kids").run(parent).outputs()[0] == 50
    runs = read_offline_runs(offline)
    assert sorted(r.metric("step_i") for r in runs) == [[0, 1], [0, 1, 2], [0, 1, 2]]
    assert {r.exit_code for r in runs} == {0}


def test_async_elastic_task_failure_reaches_the_caller_and_fails_the_run(offline: Path) -> None:
    env = elastic_env(1, 2)

    class Boom(RuntimeError):
        pass

    @wandb_init(project="p", entity="e")
    @env.task
    async def train() -> int:
        get_wandb_run().log({"before": 1})
        raise Boom("planned")

    with pytest.raises(Exception, match="planned"):
        flyte.with_runcontext(mode="local", name="boom").run(train)
    [run] = read_offline_runs(offline)
    assert run.metric("before") == [1] and run.exit_code not in (None, 0)


# (nnodes, nproc_per_node, run_mode, rank_scope) -> links, as upstream 2.12.1 renders them.
LINKS = {
    (1, 4, "auto", "global"): [("Weights & Biases", "https://wandb.ai/e/p/runs/r-a0")],
    (1, 4, "auto", "worker"): [("Weights & Biases", "https://wandb.ai/e/p/runs/r-a0")],
    (1, 4, "new", "global"): [("Weights & Biases", "https://wandb.ai/e/p/groups/r-a0")],
    (1, 4, "new", "worker"): [("Weights & Biases", "https://wandb.ai/e/p/groups/r-a0")],
    (1, 4, "shared", "worker"): [("Weights & Biases", "https://wandb.ai/e/p/runs/r-a0")],
    (2, 1, "auto", "global"): [("Weights & Biases", "https://wandb.ai/e/p/runs/r-a0")],
    (2, 1, "auto", "worker"): [
        ("Weights & Biases Worker 0", "https://wandb.ai/e/p/runs/r-a0-worker-0"),
        ("Weights & Biases Worker 1", "https://wandb.ai/e/p/runs/r-a0-worker-1"),
    ],
    (2, 2, "new", "worker"): [
        ("Weights & Biases Worker 0", "https://wandb.ai/e/p/groups/r-a0-worker-0"),
        ("Weights & Biases Worker 1", "https://wandb.ai/e/p/groups/r-a0-worker-1"),
    ],
}


@pytest.mark.parametrize(("nnodes", "nproc", "run_mode", "rank_scope"), list(LINKS))
def test_links_follow_the_elastic_config(nnodes: int, nproc: int, run_mode: str, rank_scope: str) -> None:
    def train() -> None: ...

    task = wandb_init(project="p", entity="e", run_mode=run_mode, rank_scope=rank_scope)(
        elastic_env(nnodes, nproc).task(train)
    )
    want = LINKS[(nnodes, nproc, run_mode, rank_scope)]
    assert rendered(task) == want
    # Distributed by its config: the links name the task's own runs even under a tracked parent.
    assert rendered(task, {"_wandb_run_id": "parent-run"}) == want
    assert all(isinstance(link, Wandb) for link in task.links)


def test_a_one_process_elastic_task_is_an_ordinary_tracked_task() -> None:
    def train() -> None: ...

    task = wandb_init(project="p", entity="e")(elastic_env(1, 1).task(train))
    assert rendered(task) == [("Weights & Biases", "https://wandb.ai/e/p/runs/r-a0")]
    assert rendered(task, {"_wandb_run_id": "parent-run"}) == [
        ("Weights & Biases", "https://wandb.ai/e/p/runs/parent-run")
    ]


def test_download_logs_on_a_distributed_task_warns_and_downloads_nothing(offline: Path) -> None:
    env = elastic_env(1, 2)

    @wandb_init(project="p", entity="e")
    @env.task
    def train() -> int:
        get_wandb_run().log({"x": 1})
        return 1

    # Through the context, so no decoration-time warning: the run itself must skip and say so.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = flyte.with_runcontext(mode="local", name="dl", custom_context=wandb_config(download_logs=True)).run(
            train
        )
    assert result.outputs()[0] == 1
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert any("download_logs=True is not supported for distributed" in m for m in messages), messages
    [run] = read_offline_runs(offline)
    assert run.exit_code == 0
