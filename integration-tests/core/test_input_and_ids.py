"""Bad input fails before any task runs; any Flyte run name gives a W&B run id that works end to end.

Real Flyte local mode and the real wandb SDK (offline), read back from the run files wandb wrote.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import flyte
import pytest

from flyteplugins.wandb import WandbConfigError, get_wandb_run, wandb_config, wandb_init
from flyteplugins.wandb.testing import read_offline_runs
from flyteplugins.wandb_core._link import Wandb
from flyteplugins.wandb_core._resolve import derive_run_id
from flyteplugins.wandb_core._validate import run_id_problem

pytestmark = pytest.mark.integration

env = flyte.TaskEnvironment(name="input_and_ids")


def _link_id(task: flyte.TaskTemplate, run_name: str, action_name: str, context: dict[str, str]) -> str:
    [link] = [link for link in task.links if isinstance(link, Wandb)]
    url = link.get_link(
        run_name=run_name,
        project="flyte",
        domain="development",
        context=context,
        parent_action_name="",
        action_name=action_name,
        pod_name="",
    )
    return url.rsplit("/runs/", 1)[-1]


@wandb_init
@env.task
async def child(n: int) -> str:
    for i in range(n):
        get_wandb_run().log({"child/loss": 1.0 / (i + 1)})
    return flyte.ctx().action.name


@wandb_init(run_mode="new")
@env.task
async def own_run() -> str:
    get_wandb_run().log({"own": 1})
    return get_wandb_run().id


@wandb_init(project="ids", entity="team")
@env.task
async def parent() -> list[str]:
    run = get_wandb_run()
    run.log({"parent/loss": 0.5})
    children = await asyncio.gather(child(3), own_run())
    return [flyte.ctx().action.name, run.id, *children]


@pytest.mark.parametrize("run_name", ["exp/1", "team:exp#3 ?", "n" * 140])
def test_any_run_name_works_end_to_end_offline(run_name: str, wandb_dir: Path) -> None:
    ctx = wandb_config(mode="offline")
    out = flyte.with_runcontext(mode="local", name=run_name, custom_context=ctx).run(parent)
    action, run_id, _child_action, own_id = out.outputs()[0]

    # The id is derived deterministically from the names, is valid, and is what the link points at.
    assert run_id == derive_run_id(run_name, action)
    assert run_id_problem(run_id) is None and len(run_id) <= 64
    assert _link_id(parent, run_name, action, dict(ctx)) == run_id
    assert own_id != run_id and run_id_problem(own_id) is None

    runs = {r.id: r for r in read_offline_runs(wandb_dir)}
    assert set(runs) == {run_id, own_id}
    shared = runs[run_id]
    assert shared.metric("parent/loss") == [0.5]
    assert shared.metric("child/loss") == [1.0, 0.5, 1.0 / 3]  # the child logged into the parent's run
    assert shared.exit_code == 0 and runs[own_id].exit_code == 0
    assert runs[own_id].metric("own") == [1]


def test_the_same_names_give_the_same_id_on_a_second_attempt(wandb_dir: Path) -> None:
    # A retry (or another pod of the action) derives the id again: same names, same id, resumed.
    @wandb_init
    @env.task
    async def attempt() -> str:
        get_wandb_run().log({"step": 1})
        return get_wandb_run().id

    ids = [
        flyte.with_runcontext(mode="local", name="exp/retry", custom_context=wandb_config(mode="offline"))
        .run(attempt)
        .outputs()[0]
        for _ in range(2)
    ]
    assert ids[0] == ids[1] and run_id_problem(ids[0]) is None


def test_bad_input_fails_before_any_task_runs(tmp_path: Path) -> None:
    marker = tmp_path / "body-ran"

    def body() -> None:
        marker.write_text("ran")

    for bad in ({"id": "exp/1"}, {"project": "a/b"}, {"tags": "baseline"}, {"lr": 0.1}, {"settings": "fast"}):
        with pytest.raises(WandbConfigError):
            flyte.with_runcontext(mode="local", custom_context=wandb_config(**bad)).run(parent)
        with pytest.raises(WandbConfigError):

            @wandb_init(**bad)
            @env.task
            async def task() -> None:
                body()

    with pytest.raises(WandbConfigError, match=r"run_mode='new'"):

        @wandb_init("new")  # type: ignore[call-overload]
        @env.task
        async def positional() -> None:
            body()

    with pytest.raises(WandbConfigError, match="async generator"):

        @wandb_init
        @env.task
        async def stream() -> None:  # type: ignore[misc]
            body()
            yield

    assert not marker.exists()
    assert not (tmp_path / "wandb").exists()  # no run was even started
