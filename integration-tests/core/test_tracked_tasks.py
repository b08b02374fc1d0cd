"""@wandb_init on real Flyte local-mode tasks, read back from the offline run files wandb writes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import flyte
import pytest

from flyteplugins.wandb import get_wandb_run, get_wandb_run_dir, wandb_config, wandb_init
from flyteplugins.wandb.testing import read_offline_runs, runs_by_id

env = flyte.TaskEnvironment(name="core_it")


def run_local(task, *args, name: str = "r1", custom_context=None, **kwargs):
    rc = flyte.with_runcontext(mode="local", name=name, custom_context=custom_context or {})
    return rc.run(task, *args, **kwargs)


# -- 1. bare and parametrised, sync and async ------------------------------------------------------


@wandb_init
@env.task
def bare_sync(x: int) -> str:
    run = get_wandb_run()
    run.log({"x": x})
    return run.id


@wandb_init(project="p-async", tags=["t1"], notes="hello", job_type="train")
@env.task
async def param_async(x: int) -> str:
    run = get_wandb_run()
    run.log({"x": x})
    return run.id


def test_bare_sync_task_opens_and_finishes_a_run(wandb_dir: Path) -> None:
    out = run_local(bare_sync, 3, name="bare")
    [run] = read_offline_runs(wandb_dir)
    assert out.outputs()[0] == run.id
    assert run.id.startswith("bare-")
    assert run.metric("x") == [3]
    assert run.exit_code == 0


def test_parametrised_async_task_passes_init_arguments_through(wandb_dir: Path) -> None:
    run_local(param_async, 5, name="pa")
    [run] = read_offline_runs(wandb_dir)
    assert (run.project, run.tags, run.notes, run.job_type) == ("p-async", ["t1"], "hello", "train")
    assert run.metric("x") == [5]
    assert run.exit_code == 0


@wandb_init(project="plain")
def plain_objective(lr: float) -> str:
    run = get_wandb_run()
    run.log({"lr": lr})
    return run.id


@wandb_init
async def plain_async_objective() -> str:
    run = get_wandb_run()
    run.log({"a": 1})
    return run.id


def test_plain_functions_outside_tasks_open_and_finish_runs(wandb_dir: Path) -> None:
    rid = plain_objective(0.1)
    rid2 = asyncio.run(plain_async_objective())
    runs = {r.id: r for r in read_offline_runs(wandb_dir)}
    assert set(runs) == {rid, rid2}
    assert runs[rid].metric("lr") == [0.1] and runs[rid].exit_code == 0
    assert runs[rid2].exit_code == 0
    assert get_wandb_run() is None


# -- 2. run ids and run modes ----------------------------------------------------------------------


@wandb_init
@env.task
async def auto_child(i: int) -> str:
    run = get_wandb_run()
    run.log({"child": i})
    return run.id


@wandb_init(run_mode="new")
@env.task
async def new_child(i: int) -> str:
    run = get_wandb_run()
    run.log({"new_child": i})
    return run.id


@wandb_init(run_mode="shared")
@env.task
async def shared_child() -> str:
    run = get_wandb_run()
    run.log({"shared_child": 1})
    return run.id


@wandb_init(project="modes")
@env.task
async def modes_parent() -> dict[str, str]:
    run = get_wandb_run()
    run.log({"parent": 1})
    return {
        "parent": run.id,
        "auto": await auto_child(1),
        "new": await new_child(2),
        "shared": await shared_child(),
        "action": flyte.ctx().action.name,
    }


def test_run_modes_auto_new_shared(wandb_dir: Path) -> None:
    ids = run_local(modes_parent, name="modes").outputs()[0]
    assert ids["parent"] == f"modes-{ids['action']}"
    assert ids["auto"] == ids["parent"] == ids["shared"]
    assert ids["new"] != ids["parent"] and ids["new"].startswith("modes-")
    by_id = runs_by_id(wandb_dir)
    assert set(by_id) == {ids["parent"], ids["new"]}
    [parent] = by_id[ids["parent"]]
    assert parent.metric("parent") == [1]
    assert parent.metric("child") == [1]
    assert parent.metric("shared_child") == [1]
    assert by_id[ids["new"]][0].metric("new_child") == [2]
    assert parent.exit_code == 0


def test_shared_without_tracked_ancestor_is_a_clear_error(wandb_dir: Path) -> None:
    with pytest.raises(Exception, match="run_mode='shared' needs a tracked ancestor"):
        run_local(shared_child, name="lonely")
    assert read_offline_runs(wandb_dir) == []


@wandb_init(id="my-fixed-id")
@env.task
async def explicit_id() -> str:
    return get_wandb_run().id


def test_explicit_id_is_used(wandb_dir: Path) -> None:
    assert run_local(explicit_id).outputs()[0] == "my-fixed-id"


# -- 3. precedence and context --------------------------------------------------------------------


@wandb_init(project="from-decorator", config={"b": 2, "shared": "dec"})
@env.task
async def precedence_task() -> dict:
    run = get_wandb_run()
    return {"project": run.project, "config": dict(run.config), "group": run.group}


def test_decorator_beats_context_beats_defaults(wandb_dir: Path) -> None:
    cc = wandb_config(project="from-context", group="ctx-group", config={"a": 1, "shared": "ctx"})
    out = run_local(precedence_task, custom_context=cc).outputs()[0]
    assert out["project"] == "from-decorator"
    assert out["group"] == "ctx-group"
    # Beside the user's keys, the plugin's own `flyte` block (docs/run-modes.md).
    assert {k: v for k, v in out["config"].items() if k != "flyte"} == {"a": 1, "b": 2, "shared": "dec"}


@wandb_init(run_mode="new")
@env.task
async def ctx_child(tag: str) -> dict:
    await asyncio.sleep(0.05)
    run = get_wandb_run()
    return {"tag": tag, "project": run.project, "tags": list(run.tags)}


@env.task
async def with_blocks_parent() -> list[dict]:
    tasks = []
    for p in ("alpha", "beta", "gamma"):
        with wandb_config(project=f"proj-{p}", tags=[p]):
            tasks.append(asyncio.create_task(ctx_child(p)))
    return list(await asyncio.gather(*tasks))


def test_with_blocks_scope_concurrent_siblings(wandb_dir: Path) -> None:
    out = run_local(with_blocks_parent, name="blocks").outputs()[0]
    for row in out:
        assert row["project"] == f"proj-{row['tag']}"
        assert row["tags"] == [row["tag"]]


# -- 5. get_wandb_run is per task, also under concurrency and in traces ----------------------------


@flyte.trace
async def traced_step(i: int) -> str:
    run = get_wandb_run()
    run.log({"traced": i})
    return run.id


@wandb_init(run_mode="new")
@env.task
async def concurrent_child(i: int) -> dict:
    run = get_wandb_run()
    await asyncio.sleep(0.01 * (i % 3))
    run.log({"i": i})
    seen_after = get_wandb_run().id
    traced = await traced_step(i)
    return {"i": i, "id": run.id, "after": seen_after, "traced": traced}


@wandb_init
@env.task
async def fan_out(n: int) -> list[dict]:
    return list(await asyncio.gather(*(concurrent_child(i) for i in range(n))))


def test_twenty_concurrent_async_children_each_see_their_own_run(wandb_dir: Path) -> None:
    rows = run_local(fan_out, 20, name="fan").outputs()[0]
    ids = [r["id"] for r in rows]
    assert len(set(ids)) == 20
    for r in rows:
        assert r["after"] == r["id"] == r["traced"]
    by_id = runs_by_id(wandb_dir)
    for r in rows:
        [child] = by_id[r["id"]]
        assert child.metric("i") == [r["i"]]
        assert child.metric("traced") == [r["i"]]
        assert child.exit_code == 0


@wandb_init(run_mode="new")
@env.task
def sync_child(i: int) -> str:
    run = get_wandb_run()
    run.log({"s": i})
    return run.id


@env.task
async def sync_fan_out() -> list[str]:
    return list(await asyncio.gather(*(sync_child.aio(i) for i in range(4))))


def test_sync_children_in_threads_see_their_own_run(wandb_dir: Path) -> None:
    ids = run_local(sync_fan_out, name="sfan").outputs()[0]
    assert len(set(ids)) == 4
    by_id = runs_by_id(wandb_dir)
    assert sorted(by_id[i][0].metric("s")[0] for i in ids) == [0, 1, 2, 3]


def test_get_wandb_run_outside_a_task_is_none() -> None:
    assert get_wandb_run() is None
    assert get_wandb_run_dir() is None


@wandb_init
@env.task
async def run_dir_task() -> str:
    return get_wandb_run_dir()


def test_get_wandb_run_dir_points_at_the_run_files(wandb_dir: Path) -> None:
    d = run_local(run_dir_task).outputs()[0]
    assert Path(d).is_dir() and Path(d).name == "files"
    assert Path(d).parent.parent == wandb_dir
