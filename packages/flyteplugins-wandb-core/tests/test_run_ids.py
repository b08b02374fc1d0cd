"""Run ids W&B accepts from any Flyte run/action name: readable when possible, hashed when needed."""

from __future__ import annotations

import re

import pytest

from flyteplugins.wandb_core._link import Wandb
from flyteplugins.wandb_core._resolve import (
    DERIVED_RUN_ID_MAX,
    TaskInfo,
    derive_run_id,
    merge_settings,
    resolve_run,
    run_id_with_suffix,
)
from flyteplugins.wandb_core._validate import RUN_ID_MAX, run_id_problem

SAFE = re.compile(r"^[A-Za-z0-9_.-]+$")
AWKWARD = ["exp/1", "a:b#c", "team/exp 1?", "100%", "x\\y", "it's", "a;b,c", "ünïcode", "-lead", "/", "a" * 140]


def test_names_w_and_b_accepts_keep_the_readable_pattern() -> None:
    assert derive_run_id("rxyz12", "a0") == "rxyz12-a0"
    assert derive_run_id("my-run_1.2", "betvakgf0b5hi6oqc5k7zns4") == "my-run_1.2-betvakgf0b5hi6oqc5k7zns4"


@pytest.mark.parametrize("run_name", AWKWARD)
def test_any_name_gives_a_valid_bounded_id(run_name: str) -> None:
    rid = derive_run_id(run_name, "betvakgf0b5hi6oqc5k7zns4")
    assert run_id_problem(rid) is None and SAFE.match(rid), rid
    assert len(rid) <= DERIVED_RUN_ID_MAX
    assert not rid.startswith(("-", "."))


@pytest.mark.parametrize("run_name", AWKWARD)
def test_wandb_itself_accepts_the_id(run_name: str) -> None:
    import wandb

    rid = derive_run_id(run_name, "a0")
    assert wandb.Settings(run_id=rid).run_id == rid


def test_ids_are_deterministic_and_readable() -> None:
    first = derive_run_id("exp/1", "a0")
    assert first == derive_run_id("exp/1", "a0")  # every attempt, every pod: a pure function
    assert first.startswith("exp-1-a0-")


def test_names_that_differ_only_in_replaced_characters_do_not_collide() -> None:
    ids = {derive_run_id(n, "a0") for n in ("exp/1", "exp:1", "exp#1", "exp-1", "exp 1")}
    assert len(ids) == 5


def test_long_names_are_shortened_without_colliding() -> None:
    prefix = "x" * 130
    a, b = derive_run_id(prefix + "A", "a0"), derive_run_id(prefix + "B", "a0")
    assert a != b and len(a) == len(b) == DERIVED_RUN_ID_MAX
    long_action = derive_run_id("r", "a" * 200)
    assert len(long_action) <= DERIVED_RUN_ID_MAX and long_action.startswith("r-aaa")


def test_templated_names_of_remote_links_pass_through() -> None:
    assert derive_run_id("{{.runName}}", "{{.actionName}}") == "{{.runName}}-{{.actionName}}"


def test_suffixes_stay_within_the_limit() -> None:
    assert run_id_with_suffix("base", "-rank-3") == "base-rank-3"
    long = run_id_with_suffix("b" * RUN_ID_MAX, "-worker-12-rank-7")
    assert len(long) == RUN_ID_MAX and long.endswith("-worker-12-rank-7") and run_id_problem(long) is None
    other = run_id_with_suffix("b" * (RUN_ID_MAX - 1) + "c", "-worker-12-rank-7")
    assert other != long


def test_resolved_run_and_link_agree_on_the_id() -> None:
    task = TaskInfo(in_task=True, run_name="exp/1", action_name="a0")
    plan = resolve_run(merge_settings({"project": "p", "entity": "e"}, {}), task, env={})
    assert plan.run_id == derive_run_id("exp/1", "a0")
    assert plan.init_kwargs["id"] == plan.run_id and plan.init_kwargs["resume"] == "allow"
    url = Wandb(project="p", entity="e").get_link(
        run_name="exp/1",
        project="flyte",
        domain="dev",
        context={},
        parent_action_name="",
        action_name="a0",
        pod_name="",
    )
    assert url == f"https://wandb.ai/e/p/runs/{plan.run_id}"


def test_a_140_character_run_name_gives_a_short_id() -> None:
    task = TaskInfo(in_task=True, run_name="n" * 140, action_name="betvakgf0b5hi6oqc5k7zns4")
    plan = resolve_run(merge_settings({}, {}), task, env={})
    assert plan.run_id is not None and len(plan.run_id) <= DERIVED_RUN_ID_MAX


def test_a_link_for_ranks_points_at_the_task_s_own_run() -> None:
    args = {"project": "p", "entity": "e", "run_mode": "auto", "rank_scope": "worker", "id": None}
    render = {
        "run_name": "r",
        "project": "fp",
        "domain": "d",
        "parent_action_name": "",
        "action_name": "a0",
        "pod_name": "p",
    }
    worker = Wandb(**args).for_ranks(1, name="Worker 1")
    assert worker.name == "Worker 1"
    # Never the parent's run, even when one is advertised.
    context = {"_wandb_run_id": "parent"}
    assert worker.get_link(context=context, **render) == "https://wandb.ai/e/p/runs/r-a0-worker-1"
    single = Wandb(**args).for_ranks()
    assert single.get_link(context=context, **render) == "https://wandb.ai/e/p/runs/r-a0"
