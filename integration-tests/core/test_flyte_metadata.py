"""Every run says which Flyte action made it: real Flyte local mode, read back from the offline run files.

What a run looks like from the W&B side is documented in docs/run-modes.md ("What a run looks like
in W&B"); these tests hold the documented shape.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import flyte
import flyte.errors
import flyte.io
import pytest

from flyteplugins.wandb import WandbConfigError, get_wandb_run, wandb_config, wandb_init
from flyteplugins.wandb.testing import OfflineRun, read_offline_runs

env = flyte.TaskEnvironment(name="meta_it")

FLYTE_KEYS = {"project", "domain", "run_name", "action_name", "task_name", "attempt", "mode", "url"}


def run_local(task, *args, name: str, custom_context=None, **kwargs):
    rc = flyte.with_runcontext(mode="local", name=name, custom_context=custom_context or {})
    return rc.run(task, *args, **kwargs)


def by_task(wandb_dir: Path) -> dict[str, OfflineRun]:
    return {r.config["flyte"]["task_name"]: r for r in read_offline_runs(wandb_dir)}


# -- parent, `new` child, `auto` child ------------------------------------------------------------


@wandb_init(run_mode="new")
@env.task
async def new_child(x: int) -> str:
    get_wandb_run().log({"x": x})
    return flyte.ctx().action.name


@wandb_init  # auto: joins the parent's run
@env.task
async def auto_child(x: int) -> str:
    get_wandb_run().log({"auto": x})
    return flyte.ctx().action.name


@wandb_init(project="meta")
@env.task
async def parent() -> list[str]:
    return [flyte.ctx().action.name, await new_child(1), await auto_child(2)]


def test_parent_and_new_child_say_which_action_made_them(wandb_dir: Path) -> None:
    parent_action, child_action, auto_action = run_local(parent, name="meta-run").outputs()[0]
    runs = by_task(wandb_dir)
    # The `auto` child wrote into the parent's run and opened none of its own.
    assert set(runs) == {"meta_it.parent", "meta_it.new_child"}
    for task_name, action, short in (
        ("meta_it.parent", parent_action, "parent"),
        ("meta_it.new_child", child_action, "new_child"),
    ):
        run = runs[task_name]
        block = run.config["flyte"]
        assert set(block) == FLYTE_KEYS
        assert (block["run_name"], block["action_name"], block["attempt"]) == ("meta-run", action, 0)
        assert (block["mode"], block["url"]) == ("local", None)
        assert run.name == f"{short}-{action}"
        assert run.job_type == task_name
        assert run.tags == ["flyte-run:meta-run"]
        assert run.notes.startswith("Flyte local run") and action in run.notes
        assert "http" not in run.notes
    # The parent's identity is its own: the `auto` child that joined its run did not overwrite it.
    parent_run = runs["meta_it.parent"]
    assert parent_run.metric("auto") == [2]
    assert parent_run.config["flyte"]["action_name"] == parent_action != auto_action
    assert runs["meta_it.new_child"].project == "meta"  # inherited from the parent, as before


# -- the user's values win ------------------------------------------------------------------------


@wandb_init(
    name="mine", group="g1", job_type="jt", tags=["t1"], notes="my notes", config={"flyte": "user value", "lr": 0.5}
)
@env.task
async def user_values() -> None:
    get_wandb_run().log({"a": 1})


@wandb_init
@env.task
async def context_values() -> None:
    get_wandb_run().log({"a": 1})


def test_user_given_name_group_job_type_tags_notes_and_config_are_untouched(wandb_dir: Path) -> None:
    run_local(user_values, name="user-run")
    [run] = read_offline_runs(wandb_dir)
    assert (run.name, run.group, run.job_type, run.tags, run.notes) == ("mine", "g1", "jt", ["t1"], "my notes")
    assert run.config == {"flyte": "user value", "lr": 0.5}


def test_values_from_wandb_config_win_too(wandb_dir: Path) -> None:
    ctx = wandb_config(name="ctx-name", job_type="ctx-jt", tags=["ctx"], notes="ctx notes", config={"k": 1})
    run_local(context_values, name="ctx-run", custom_context=ctx)
    [run] = read_offline_runs(wandb_dir)
    assert (run.name, run.job_type, run.tags, run.notes) == ("ctx-name", "ctx-jt", ["ctx"], "ctx notes")
    # The user's config keys stay; the flyte block is added beside them.
    assert run.config["k"] == 1 and run.config["flyte"]["run_name"] == "ctx-run"


# -- retries ------------------------------------------------------------------------------------


def test_a_retry_records_its_attempt_number(wandb_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # On a cluster Flyte sets FLYTE_ATTEMPT_NUMBER in the retried pod; ctx.attempt_number reads it.
    monkeypatch.setenv("FLYTE_ATTEMPT_NUMBER", "1")
    run_local(context_values, name="retry-run")
    [run] = read_offline_runs(wandb_dir)
    assert run.config["flyte"]["attempt"] == 1


# -- plain functions ----------------------------------------------------------------------------


@wandb_init(run_mode="new")
def helper() -> None:
    get_wandb_run().log({"h": 1})


@env.task
async def calls_helper() -> str:
    helper()
    return flyte.ctx().action.name


def test_a_function_run_inside_a_task_records_the_action_and_no_task_name(wandb_dir: Path) -> None:
    action = run_local(calls_helper, name="fn-run").outputs()[0]
    [run] = read_offline_runs(wandb_dir)
    assert run.config["flyte"]["action_name"] == action
    assert run.config["flyte"]["task_name"] is None
    assert run.tags == ["flyte-run:fn-run"]
    assert run.job_type == ""  # no task name to default it to


def test_a_function_outside_any_task_gets_no_flyte_block(wandb_dir: Path) -> None:
    helper()
    [run] = read_offline_runs(wandb_dir)
    assert "flyte" not in run.config and run.tags == [] and run.notes == ""


# -- log_inputs ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Params:
    depth: int = 3
    width: int = 64


@wandb_init(log_inputs=True)
@env.task
async def with_inputs(
    n: int, lr: float, name: str, layers: list[int], params: Params, data: flyte.io.File, big: list[int]
) -> None:
    get_wandb_run().log({"n": n})


@wandb_init(log_inputs=True, config={"lr": "user"})
@env.task
async def user_input_key(lr: float) -> None:
    pass


def test_log_inputs_puts_scalars_in_config_and_summarises_the_rest(wandb_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("a,b\n1,2\n")
    data = flyte.io.File.from_local_sync(str(path))
    run_local(with_inputs, 3, 0.01, "resnet", [1, 2], Params(), data, list(range(500)), name="in-run")
    [run] = read_offline_runs(wandb_dir)
    assert run.config["inputs"] == {
        "n": 3,
        "lr": 0.01,
        "name": "resnet",
        "layers": [1, 2],
        "params": "<dataclass Params>",
        "data": "<File>",
        "big": "<list, 500 items>",
    }
    assert run.artifacts == [] and not any(f.endswith(".csv") for f in run.files)


def test_log_inputs_is_off_by_default(wandb_dir: Path) -> None:
    run_local(new_child, 4, name="off-run")
    [run] = read_offline_runs(wandb_dir)
    assert "inputs" not in run.config


def test_log_inputs_leaves_the_users_config_key_alone(wandb_dir: Path) -> None:
    run_local(user_input_key, 0.1, name="uk-run")
    [run] = read_offline_runs(wandb_dir)
    assert run.config["lr"] == "user" and run.config["inputs"] == {"lr": 0.1}


def test_log_inputs_refuses_an_input_named_like_a_credential() -> None:
    with pytest.raises(WandbConfigError, match=r"log_inputs=True would log the input 'api_key'"):

        @wandb_init(log_inputs=True)
        @env.task
        async def leaky(api_key: str) -> None: ...


def test_log_inputs_refuses_the_live_key_as_an_input_value(wandb_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = "k" * 40
    monkeypatch.setenv("WANDB_API_KEY", key)

    @wandb_init(log_inputs=True, mode="offline")
    @env.task
    async def takes_text(text: str) -> None: ...

    with pytest.raises(flyte.errors.RuntimeUserError, match=r"inputs\['text'\] contains the W&B API key"):
        run_local(takes_text, f"prefix {key}", name="leak-run")
    assert read_offline_runs(wandb_dir) == []


def test_log_inputs_must_be_a_bool() -> None:
    with pytest.raises(WandbConfigError, match=r"log_inputs must be True or False, got 'yes'"):
        wandb_init(log_inputs="yes")


# -- against the loopback W&B server --------------------------------------------------------------


@wandb_init(project="meta-online", log_inputs=True)
@env.task
async def online_task(lr: float) -> str:
    run = get_wandb_run()
    run.log({"lr": lr})
    return run.id


def test_metadata_arrives_on_the_server_and_a_retry_updates_its_attempt(
    wandb_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = run_local(online_task, 0.1, name="online-run").outputs()[0]
    first = wandb_server.run(run_id, project="meta-online")
    block = first.config["flyte"]
    assert (block["run_name"], block["attempt"], block["mode"], block["url"]) == ("online-run", 0, "local", None)
    assert first.config["inputs"] == {"lr": 0.1}
    assert first.display_name == f"online_task-{block['action_name']}"
    assert (first.job_type, first.tags) == ("meta_it.online_task", ["flyte-run:online-run"])
    assert first.notes.startswith("Flyte local run")

    # The retried attempt resumes the same run (same id) and records its own attempt number.
    monkeypatch.setenv("FLYTE_ATTEMPT_NUMBER", "1")
    assert run_local(online_task, 0.1, name="online-run").outputs()[0] == run_id
    again = wandb_server.run(run_id, project="meta-online")
    assert again.config["flyte"]["attempt"] == 1
    assert again.metric("lr") == [0.1, 0.1]
