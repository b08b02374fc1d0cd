"""The public API behaves as flyteplugins-wandb 2.12 documents it (real Flyte local mode, offline runs).

Written from the seeds (package README, integration guide) and 2.12's documented behaviour: link
fields and URLs, config objects, decorators on tasks, ``get_wandb_run`` scoping, and children landing
in their parent's project. Where this plugin deliberately differs, the test pins our behaviour and
docs/migration.md gives the reason.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import flyte
import pytest

import flyteplugins.wandb as fw
from flyteplugins.wandb import Wandb, WandbConfigError, get_wandb_context, get_wandb_run, wandb_config, wandb_init
from flyteplugins.wandb.testing import read_offline_runs, runs_by_id

pytestmark = pytest.mark.integration

sweeps = pytest.importorskip("flyteplugins.wandb_sweeps")
from flyteplugins.wandb import WandbSweep, wandb_sweep, wandb_sweep_config  # noqa: E402

env = flyte.TaskEnvironment(name="parity_it")
CLOUD = "https://wandb.ai"


def render(link: Any, context: dict[str, str] | None = None, action: str = "{{.actionName}}") -> str:
    """What the Flyte UI shows for ``link`` on action ``action`` of run ``r1``."""
    return link.get_link(
        run_name="r1",
        project="flyte-project",
        domain="development",
        context=context,
        parent_action_name="parent",
        action_name=action,
        pod_name="{{.podName}}",
    )


def run_local(task: Any, *args: Any, name: str, custom_context: dict[str, str] | None = None) -> Any:
    rc = flyte.with_runcontext(mode="local", name=name, custom_context=custom_context or {})
    return rc.run(task, *args)


# -- 1. link objects: field values and URLs -------------------------------------------------------


def test_link_fields_read_as_in_2_12_when_not_given() -> None:
    link = Wandb()
    assert (link.host, link.run_mode, link.rank_scope) == (CLOUD, "auto", "global")
    assert (link.project, link.entity, link.id, link.name) == (None, None, None, "Weights & Biases")
    sweep = WandbSweep()
    assert (sweep.host, sweep.project, sweep.entity, sweep.id) == (CLOUD, None, None, None)
    assert sweep.name == "Weights & Biases Sweep"
    # Given values read back as given.
    given = Wandb(host="https://w.example", run_mode="new", rank_scope="worker")
    assert (given.host, given.run_mode, given.rank_scope) == ("https://w.example", "new", "worker")


PARENT = {"_wandb_run_id": "parent-run"}
PE = {"project": "p", "entity": "e"}


@pytest.mark.parametrize(
    ("make", "named"),
    [
        (lambda: Wandb(run_mode="neww"), r"run_mode='neww' is not valid; allowed values: 'auto', 'new'"),
        (lambda: Wandb(rank_scope="local"), r"rank_scope='local' is not valid; allowed values: 'global'"),
        (lambda: Wandb(host="wandb.example.com"), r"Wandb: host must start with http:// or https://"),
        (lambda: Wandb(project=5), r"Wandb: project must be a string, got int 5"),
        (lambda: Wandb(id=["r1"]), r"Wandb: id must be a string"),
        (lambda: WandbSweep(host=5), r"WandbSweep: host must start with http:// or https://, got 5"),
        (lambda: WandbSweep(entity=("team",)), r"WandbSweep: entity must be a string"),
    ],
)
def test_a_link_built_by_hand_refuses_bad_fields_naming_them(make: Any, named: str) -> None:
    """A typo in a hand-made link (an untracked task's `links=[Wandb(...)]`) is an error at once, not a
    link to a run or page that does not exist."""
    with pytest.raises(WandbConfigError, match=named):
        make()


@pytest.mark.parametrize(
    ("link", "context", "expected"),
    [
        (Wandb(**PE), {}, f"{CLOUD}/e/p/runs/r1-{{{{.actionName}}}}"),
        (Wandb(**PE), None, f"{CLOUD}/e/p/runs/r1-{{{{.actionName}}}}"),
        (Wandb(), {"wandb_project": "cp", "wandb_entity": "ce"}, f"{CLOUD}/ce/cp/runs/r1-{{{{.actionName}}}}"),
        # Link (decorator) values win over the context's.
        (Wandb(**PE), {"wandb_project": "cp", "wandb_entity": "ce"}, f"{CLOUD}/e/p/runs/r1-{{{{.actionName}}}}"),
        # Without both project and entity there is no run URL: the host.
        (Wandb(entity="e"), {}, CLOUD),
        (Wandb(project="p"), {}, CLOUD),
        # run_mode decides whether the link points at the parent's run.
        (Wandb(**PE), PARENT, f"{CLOUD}/e/p/runs/parent-run"),
        (Wandb(**PE, run_mode="auto"), PARENT, f"{CLOUD}/e/p/runs/parent-run"),
        (Wandb(**PE, run_mode="new"), PARENT, f"{CLOUD}/e/p/runs/r1-{{{{.actionName}}}}"),
        (Wandb(**PE, run_mode="shared"), PARENT, f"{CLOUD}/e/p/runs/parent-run"),
        (Wandb(**PE, run_mode="shared"), {}, f"{CLOUD}/e/p"),
        (Wandb(host="https://w.example", **PE), {}, "https://w.example/e/p/runs/r1-{{.actionName}}"),
        # Explicit ids: the link's, then the context's, then {run_name}-{action_name}.
        (Wandb(**PE, run_mode="new", id="mine"), {}, f"{CLOUD}/e/p/runs/mine"),
        (Wandb(**PE, run_mode="new"), {"wandb_id": "ctx-id"}, f"{CLOUD}/e/p/runs/ctx-id"),
        (Wandb(**PE, run_mode="new", id="mine"), {"wandb_id": "ctx-id"}, f"{CLOUD}/e/p/runs/mine"),
        (Wandb(**PE, id="mine"), {}, f"{CLOUD}/e/p/runs/mine"),
    ],
)
def test_run_link_urls(link: Wandb, context: dict[str, str] | None, expected: str) -> None:
    assert render(link, context) == expected


@pytest.mark.parametrize(
    ("run_mode", "rank_scope", "worker", "expected"),
    [
        ("auto", "global", None, "runs/r1-train"),
        ("auto", "worker", 1, "runs/r1-train-worker-1"),
        ("auto", "worker", 0, "runs/r1-train-worker-0"),
        ("shared", "global", None, "runs/r1-train"),
        ("shared", "worker", 1, "runs/r1-train-worker-1"),
        ("new", "global", None, "groups/r1-train"),
        ("new", "worker", 1, "groups/r1-train-worker-1"),
    ],
)
def test_distributed_link_urls(run_mode: str, rank_scope: str, worker: int | None, expected: str) -> None:
    link = Wandb(**PE, run_mode=run_mode, rank_scope=rank_scope).for_ranks(worker)
    assert render(link, {}, action="train") == f"{CLOUD}/e/p/{expected}"


@pytest.mark.parametrize(
    ("link", "context", "expected"),
    [
        (WandbSweep(**PE), {}, f"{CLOUD}/e/p/sweeps"),
        (WandbSweep(**PE), None, f"{CLOUD}/e/p/sweeps"),
        (WandbSweep(), {"wandb_project": "cp", "wandb_entity": "ce"}, f"{CLOUD}/ce/cp/sweeps"),
        (WandbSweep(entity="e"), {}, CLOUD),
        (WandbSweep(project="p"), {}, CLOUD),
        (WandbSweep(host="https://w.example", **PE), {}, "https://w.example/e/p/sweeps"),
        (WandbSweep(**PE), {"_wandb_sweep_id": "sw1"}, f"{CLOUD}/e/p/sweeps/sw1"),
        (WandbSweep(**PE, id="mine"), {}, f"{CLOUD}/e/p/sweeps/mine"),
        (WandbSweep(**PE, id="mine"), {"_wandb_sweep_id": "sw1"}, f"{CLOUD}/e/p/sweeps/mine"),
    ],
)
def test_sweep_link_urls(link: WandbSweep, context: dict[str, str] | None, expected: str) -> None:
    assert render(link, context) == expected


def test_a_link_without_a_run_mode_follows_the_context_one_given_explicitly_does_not() -> None:
    # Ours: the run of a task with no run_mode of its own follows wandb_config(run_mode=...), and so
    # does its link (2.12's link always assumed "auto" here and pointed at the parent's run).
    ctx = {**PARENT, "wandb_run_mode": "new"}
    assert render(Wandb(**PE), ctx) == f"{CLOUD}/e/p/runs/r1-{{{{.actionName}}}}"
    assert render(Wandb(**PE, run_mode="auto"), ctx) == f"{CLOUD}/e/p/runs/parent-run"


# -- 2. host precedence -------------------------------------------------------------------------


@wandb_init(host="https://deco.example", project="p", entity="e")
@env.task
async def hosted() -> None:
    return None


@wandb_sweep(project="p", entity="e")
@env.task
async def plain_sweep_task() -> None:
    return None


def test_a_host_given_to_the_decorator_or_link_wins_over_the_context_host() -> None:
    # Decision (docs/migration.md): decorator arguments > wandb_config context > defaults, as the
    # README's precedence rule says, for the host too (2.12 let the context's host win).
    ctx = {"wandb_host": "https://ctx.example"}
    [link] = [lk for lk in hosted.links if isinstance(lk, Wandb)]
    assert render(link, ctx) == "https://deco.example/e/p/runs/r1-{{.actionName}}"
    assert render(WandbSweep(host="https://deco.example", **PE), ctx) == "https://deco.example/e/p/sweeps"
    # Without a host of its own the link takes the context's.
    assert render(Wandb(**PE), ctx) == "https://ctx.example/e/p/runs/r1-{{.actionName}}"
    [sweep_link] = [lk for lk in plain_sweep_task.links if isinstance(lk, WandbSweep)]
    assert render(sweep_link, ctx) == "https://ctx.example/e/p/sweeps"


# -- 3. config objects ----------------------------------------------------------------------------


def test_wandb_config_attributes_defaults_and_to_dict() -> None:
    cfg = wandb_config(project="p", entity="e", tags=["t1", "t2"], config={"lr": 0.01}, mode="offline")
    assert (cfg.project, cfg.entity, cfg.tags, cfg.config, cfg.mode) == (
        "p",
        "e",
        ["t1", "t2"],
        {"lr": 0.01},
        "offline",
    )
    # Defaults read as in 2.12 ...
    assert (cfg.run_mode, cfg.rank_scope, cfg.download_logs) == ("auto", "global", False)
    assert cfg.host is None and cfg.kwargs is None
    # ... but are not written as keys, so this object never overrides an outer context's values.
    assert not {"wandb_run_mode", "wandb_rank_scope", "wandb_download_logs"} & set(cfg)
    out = cfg.to_dict()
    assert type(out) is dict and out == dict(cfg) and {**cfg} == out
    assert out["wandb_project"] == "p" and out["wandb_tags"] == json.dumps(["t1", "t2"])
    assert out["wandb_config"] == json.dumps({"lr": 0.01})

    given = wandb_config(project="p", run_mode="shared", download_logs=True, host="https://w.example", save_code=True)
    assert (given.run_mode, given.download_logs, given.host) == ("shared", True, "https://w.example")
    assert given.kwargs == {"save_code": True}
    assert given.to_dict()["wandb_download_logs"] == "true"
    assert wandb_config(download_logs=False).to_dict()["wandb_download_logs"] == "false"
    # from_dict takes the wandb_* keys of a custom_context and ignores the sweep's and others'.
    back = fw.WandbConfig.from_dict({**given, "wandb_sweep_method": "grid", "other": "x"})
    assert dict(back) == dict(given) and back.download_logs is True


def test_wandb_sweep_config_attributes_defaults_and_to_dict() -> None:
    scfg = wandb_sweep_config(
        method="random",
        metric={"name": "loss", "goal": "minimize"},
        parameters={"lr": {"min": 0.001, "max": 0.1}},
        project="p",
        entity="e",
        prior_runs=["run1"],
        early_terminate={"type": "hyperband", "min_iter": 3},
    )
    assert (scfg.method, scfg.project, scfg.entity, scfg.prior_runs) == ("random", "p", "e", ["run1"])
    assert scfg.metric == {"name": "loss", "goal": "minimize"}
    assert scfg.kwargs == {"early_terminate": {"type": "hyperband", "min_iter": 3}}
    assert scfg.download_logs is False and "wandb_sweep_download_logs" not in scfg
    sweep_cfg = scfg.to_sweep_config()
    assert sweep_cfg["early_terminate"] == {"type": "hyperband", "min_iter": 3}
    assert not {"project", "entity", "prior_runs", "kwargs", "download_logs"} & set(sweep_cfg)
    out = scfg.to_dict()
    assert type(out) is dict and out["wandb_sweep_method"] == "random"
    assert out["wandb_sweep_parameters"] == json.dumps({"lr": {"min": 0.001, "max": 0.1}})
    assert wandb_sweep_config(method="grid", download_logs=True).to_dict()["wandb_sweep_download_logs"] == "true"
    merged = {**wandb_config(project="p"), **wandb_sweep_config(method="bayes")}
    assert merged["wandb_project"] == "p" and merged["wandb_sweep_method"] == "bayes"


def test_config_objects_are_trigger_custom_contexts() -> None:
    cfg = wandb_config(project="my-project", entity="my-team")
    for given in (cfg, {**cfg}, cfg.to_dict()):
        trigger = flyte.Trigger(name="t", automation=flyte.Cron("0 0 * * *"), custom_context=given)
        assert dict(trigger.custom_context.items())["wandb_project"] == "my-project"
    assert flyte.Trigger(name="t", automation=flyte.Cron("0 0 * * *"), custom_context=cfg).custom_context is cfg


@wandb_init
@env.task
async def reports_run_mode() -> dict[str, str]:
    cfg = get_wandb_context()
    return {"run_id": get_wandb_run().id, "run_mode": cfg.run_mode if cfg else "-"}


@wandb_init
@env.task
async def outer_with_inner_tags() -> dict[str, Any]:
    with wandb_config(tags=["inner"]):
        child = await reports_run_mode()
    return {"parent": get_wandb_run().id, "child": child}


def test_an_inner_block_does_not_reset_an_outer_run_mode(wandb_dir: Path) -> None:
    # 2.12 wrote run_mode="auto" into every wandb_config(...), so this inner block silently turned
    # the outer run_mode="new" back into "auto" and the child logged into its parent's run.
    out = run_local(outer_with_inner_tags, name="inner", custom_context=wandb_config(project="ip", run_mode="new"))
    out = out.outputs()[0]
    assert out["child"]["run_mode"] == "new"
    assert out["child"]["run_id"] != out["parent"]
    by_id = runs_by_id(wandb_dir)
    [child] = by_id[out["child"]["run_id"]]
    assert child.tags == ["inner"] and child.project == "ip" and child.exit_code == 0


@env.task
async def untracked_reader() -> dict[str, str]:
    return dict(flyte.ctx().custom_context or {})


@wandb_init(project="items")
@env.task
async def mutates_config_objects() -> dict[str, Any]:
    cfg = wandb_config(entity="from-object")
    cfg["wandb_group"] = "g1"
    cfg.update({"wandb_notes": "n"})
    popped = cfg.pop("wandb_entity")
    del cfg["wandb_notes"]
    seen_here = {k: v for k, v in flyte.ctx().custom_context.items() if k.startswith("wandb_")}
    seen_by_child = await untracked_reader()
    with cfg:  # how a config object's values reach children
        seen_in_block = await untracked_reader()
    return {"obj": dict(cfg), "popped": popped, "here": seen_here, "child": seen_by_child, "block": seen_in_block}


def test_item_assignment_changes_the_object_not_the_running_context(wandb_dir: Path) -> None:
    # Decision (docs/migration.md): a config object is a plain dict. 2.12 redirected item writes,
    # del, pop and update to the running task's custom_context (and dropped them outside a task).
    out = run_local(mutates_config_objects, name="items", custom_context=wandb_config(entity="ctx-ent")).outputs()[0]
    assert out["obj"] == {"wandb_group": "g1"} and out["popped"] == "from-object"
    assert out["here"]["wandb_entity"] == "ctx-ent" and "wandb_group" not in out["here"]
    assert out["child"]["wandb_entity"] == "ctx-ent" and "wandb_group" not in out["child"]
    assert out["block"]["wandb_group"] == "g1"
    cfg = wandb_config(project="p")
    cfg["wandb_entity"] = "e"  # outside a task too: kept, not dropped
    assert cfg.entity == "e"


# -- 4. decorators on tasks -----------------------------------------------------------------------


@wandb_init(project="tp", entity="te")
@env.task
async def linked_async() -> str:
    return "x"


@wandb_init(run_mode="new")
@env.task
async def linked_new() -> str:
    return "x"


@wandb_init
@env.task
def linked_bare_sync() -> str:
    return "x"


def test_wandb_init_adds_one_wandb_link_with_the_decorator_values() -> None:
    [link] = linked_async.links
    assert isinstance(link, Wandb) and (link.project, link.entity, link.run_mode) == ("tp", "te", "auto")
    assert linked_new.links[0].run_mode == "new"
    [bare] = linked_bare_sync.links
    assert isinstance(bare, Wandb) and bare.project is None and bare.entity is None
    assert (bare.run_mode, bare.rank_scope, bare.host) == ("auto", "global", CLOUD)


class _OtherLink:
    name = "other"
    icon_uri = ""

    def get_link(self, **kwargs: Any) -> str:
        return "https://example.invalid"


@env.task
async def base_for_links() -> str:
    return "x"


def test_decorators_keep_a_tasks_existing_links() -> None:
    other = _OtherLink()
    tracked = wandb_init(project="p")(base_for_links.override(links=(other,)))
    assert len(tracked.links) == 2 and other in tracked.links
    assert any(isinstance(lk, Wandb) for lk in tracked.links)
    swept = wandb_sweep(base_for_links.override(links=(other,)))
    assert len(swept.links) == 2 and other in swept.links
    assert any(isinstance(lk, WandbSweep) for lk in swept.links)


def test_wandb_sweep_adds_its_link_to_async_and_sync_tasks() -> None:
    @wandb_sweep
    @env.task
    async def sweep_async() -> None:
        return None

    @wandb_sweep
    @env.task
    def sweep_sync() -> None:
        return None

    for task in (sweep_async, sweep_sync):
        assert isinstance(task.links[0], WandbSweep)


def _plain_sync() -> None:
    return None


async def _plain_async() -> None:
    return None


def test_wandb_sweep_on_a_plain_function_raises_a_runtime_error() -> None:
    for func in (_plain_sync, _plain_async):
        with pytest.raises(RuntimeError, match="can only be used with Flyte tasks") as info:
            wandb_sweep(func)
        assert isinstance(info.value, WandbConfigError)  # and our own error type, as before


def test_wandb_init_wraps_plain_functions() -> None:
    @wandb_init(project="p")
    def sync_fn() -> str:
        return "x"

    @wandb_init(project="p")
    async def async_fn() -> str:
        return "x"

    assert callable(sync_fn) and asyncio.iscoroutinefunction(async_fn)


def test_the_module_exposes_flyte_for_tests_that_patch_it() -> None:
    # 2.12's tests patch "flyteplugins.wandb.flyte.ctx"; the attribute is the flyte module itself.
    assert fw.flyte is flyte


# -- 5. get_wandb_run scoping ---------------------------------------------------------------------


@env.task
async def untracked_async_child() -> bool:
    return get_wandb_run() is None


@env.task
def untracked_sync_child() -> bool:
    return get_wandb_run() is None


@flyte.trace
async def traced_step() -> str:
    return get_wandb_run().id


@wandb_init(run_mode="new")
def tracked_function() -> str:
    return get_wandb_run().id


@wandb_init(project="scoping")
@env.task
async def scoping_parent() -> dict[str, Any]:
    own = get_wandb_run().id
    return {
        "own": own,
        "async_child_none": await untracked_async_child(),
        "sync_child_none": await untracked_sync_child.aio(),
        "trace": await traced_step(),
        "function": await asyncio.to_thread(tracked_function),
        "after": get_wandb_run().id,
    }


def test_get_wandb_run_is_none_in_a_child_task_without_wandb_init(wandb_dir: Path) -> None:
    out = run_local(scoping_parent, name="scope").outputs()[0]
    assert out["async_child_none"] is True and out["sync_child_none"] is True
    assert out["trace"] == out["own"] == out["after"]  # a trace shares its task's run
    assert out["function"] != out["own"]  # a tracked function in the task has its own run
    assert get_wandb_run() is None
    by_id = runs_by_id(wandb_dir)
    assert by_id[out["function"]][0].project == "scoping"  # see section 6


# -- 6. children land where their parent is -------------------------------------------------------


@wandb_init(run_mode="new")
@env.task
async def new_child_no_project() -> str:
    get_wandb_run().log({"c": 1})
    return get_wandb_run().id


@wandb_init(run_mode="new", project="own-proj")
@env.task
async def new_child_own_project() -> str:
    return get_wandb_run().id


@wandb_init(project="parent-proj", entity="parent-ent")
@env.task
async def parent_with_project() -> dict[str, Any]:
    link = render(new_child_no_project.links[0], dict(flyte.ctx().custom_context), action="child")
    return {
        "parent": get_wandb_run().id,
        "inherits": await new_child_no_project(),
        "own": await new_child_own_project(),
        "link": link,
    }


def test_a_new_child_without_a_project_goes_to_its_parents_project(wandb_dir: Path) -> None:
    out = run_local(parent_with_project, name="proj").outputs()[0]
    by_id = runs_by_id(wandb_dir)
    [parent] = by_id[out["parent"]]
    [child] = by_id[out["inherits"]]
    [own] = by_id[out["own"]]
    assert out["inherits"] != out["parent"] and child.metric("c") == [1]
    assert (parent.project, parent.entity) == ("parent-proj", "parent-ent")
    assert (child.project, child.entity) == ("parent-proj", "parent-ent")
    assert own.project == "own-proj"
    # The child's Flyte link points there too.
    assert out["link"] == f"{CLOUD}/parent-ent/parent-proj/runs/r1-child"


def test_a_root_new_task_without_any_project_is_left_to_wandb(wandb_dir: Path) -> None:
    rid = run_local(new_child_no_project, name="root").outputs()[0]
    [run] = runs_by_id(wandb_dir)[rid]
    assert run.project not in ("parent-proj", "own-proj")
    assert len(read_offline_runs(wandb_dir)) == 1


# 2.12's module path for its config objects, and the names its users' tests patch


def test_the_2_12_config_module_builds_and_recognises_our_config_objects() -> None:
    from flyteplugins.wandb._context import _WandBConfig, _WandBSweepConfig

    config = _WandBConfig(project="p", entity="e", tags=["a"], kwargs={"notes": "n"})
    assert config.to_dict()["wandb_project"] == "p"
    assert isinstance(config, _WandBConfig) and isinstance(wandb_config(project="q"), _WandBConfig)
    assert not isinstance({"wandb_project": "p"}, _WandBConfig)
    assert _WandBConfig.from_dict(config.to_dict()) == config
    with pytest.raises(WandbConfigError, match="project"):
        _WandBConfig(project="bad/name")  # still validated: it is wandb_config underneath
    sweep = _WandBSweepConfig(method="grid", parameters={"x": {"values": [1, 2]}})
    assert isinstance(sweep, _WandBSweepConfig) and sweep.to_dict()["wandb_sweep_method"] == "grid"
    assert not isinstance(config, _WandBSweepConfig)


def test_dir_of_the_module_lists_only_the_public_api() -> None:
    from flyteplugins.wandb_core import OPTIONAL_NAMES

    names = dir(fw)
    # The 2.12-compat patch targets and import helpers stay reachable but are not advertised.
    for hidden in ("Any", "TYPE_CHECKING", "annotations", "os", "flyte", "wandb", "OPTIONAL_NAMES"):
        assert hidden not in names, hidden
    assert not [n for n in names if n.startswith("_")]
    public_submodules = {"testing"}  # shows once imported, as Python lists imported submodules
    assert set(names) - public_submodules == set(fw.__all__) | set(OPTIONAL_NAMES)


# flyteplugins-wandb 2.12.1's `__all__`: what `from flyteplugins.wandb import *` gave its users.
UPSTREAM_ALL = (
    "Wandb", "WandbSweep", "download_wandb_run_dir", "download_wandb_run_logs", "download_wandb_sweep_dirs",
    "download_wandb_sweep_logs", "get_distributed_info", "get_wandb_context", "get_wandb_run",
    "get_wandb_run_dir", "get_wandb_sweep_context", "get_wandb_sweep_id", "wandb_config", "wandb_init",
    "wandb_sweep", "wandb_sweep_config",
)  # fmt: skip


def test_star_import_gives_every_2_12_name_once_the_extras_are_installed() -> None:
    """2.12 code written as `from flyteplugins.wandb import *` keeps working after upgrading to [all]."""
    pytest.importorskip("flyteplugins.wandb_distributed")
    namespace: dict[str, Any] = {}
    exec("from flyteplugins.wandb import *", namespace)
    assert [name for name in UPSTREAM_ALL if name not in namespace] == []
    assert namespace["wandb_sweep"] is sweeps.wandb_sweep
    assert "run_sweep_agents" in namespace  # the extra's own names come with it


def test_patching_wandb_through_the_plugin_module_reaches_the_real_wandb(monkeypatch) -> None:
    import os

    import wandb

    assert fw.wandb is wandb and fw.os is os
    monkeypatch.setattr("flyteplugins.wandb.wandb.Api", "patched")
    assert wandb.Api == "patched"
    monkeypatch.setattr("flyteplugins.wandb.os.makedirs", "patched")
    assert os.makedirs == "patched"
    monkeypatch.setattr("flyteplugins.wandb.flyte.ctx", "patched")
    assert flyte.ctx == "patched"


def test_a_run_placed_in_the_task_data_the_2_12_way_is_found() -> None:
    sentinel = object()

    @env.task
    async def legacy() -> bool:
        flyte.ctx().data["_wandb_run"] = sentinel
        return get_wandb_run() is sentinel

    assert flyte.with_runcontext(mode="local", name="legacy-run").run(legacy).outputs()[0] is True
