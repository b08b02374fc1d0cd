"""Run resolution as a pure function: the run-mode matrix without wandb or Flyte."""

from __future__ import annotations

import pytest

from flyteplugins.wandb_core._resolve import TaskInfo, api_base_url, choose_mode, merge_settings, resolve_run, ui_host
from flyteplugins.wandb_core._validate import WandbConfigError

ROOT = TaskInfo(in_task=True, run_name="r", action_name="a1")
CHILD_LOCAL = TaskInfo(in_task=True, run_name="r", action_name="a2", parent_run_id="r-a1", parent_in_process=True)
CHILD_REMOTE = TaskInfo(
    in_task=True,
    run_name="r",
    action_name="a2",
    flyte_mode="remote",
    parent_run_id="r-a1",
    parent_project="pp",
    parent_entity="pe",
)
KEY = {"WANDB_API_KEY": "k" * 40}


def plan(settings=None, task=ROOT, env=KEY, **kw):
    return resolve_run(merge_settings(settings or {}, {}), task, env=env, **kw)


@pytest.mark.parametrize(
    ("run_mode", "task", "action", "run_id", "primary"),
    [
        ("auto", ROOT, "init", "r-a1", True),
        ("new", ROOT, "init", "r-a1", True),
        ("auto", CHILD_LOCAL, "reuse", "r-a1", False),
        ("shared", CHILD_LOCAL, "reuse", "r-a1", False),
        ("new", CHILD_LOCAL, "init", "r-a2", True),
        ("auto", CHILD_REMOTE, "init", "r-a1", False),
        ("shared", CHILD_REMOTE, "init", "r-a1", False),
        ("new", CHILD_REMOTE, "init", "r-a2", True),
    ],
)
def test_run_mode_matrix(run_mode, task, action, run_id, primary) -> None:
    p = plan({"run_mode": run_mode}, task)
    assert (p.action, p.run_id, p.primary) == (action, run_id, primary)


def test_shared_without_parent_is_an_error_naming_the_alternatives() -> None:
    with pytest.raises(WandbConfigError, match=r"run_mode='auto'.*run_mode='new'"):
        plan({"run_mode": "shared"})


def test_own_run_resumes_its_deterministic_id_and_allows_many_runs_per_process() -> None:
    p = plan()
    assert p.init_kwargs["id"] == "r-a1"
    assert p.init_kwargs["resume"] == "allow"
    assert p.init_kwargs["reinit"] == "create_new"


def test_remote_root_opens_shared_primary_so_children_can_join() -> None:
    p = plan(task=TaskInfo(in_task=True, run_name="r", action_name="a0", flyte_mode="remote"))
    assert p.settings == {"mode": "shared", "x_primary": True, "x_label": "a0"}


def test_remote_child_joins_as_labelled_secondary_in_parent_project() -> None:
    p = plan(task=CHILD_REMOTE)
    assert p.settings == {"mode": "shared", "x_primary": False, "x_label": "a2", "x_update_finish_state": False}
    assert (p.init_kwargs["project"], p.init_kwargs["entity"]) == ("pp", "pe")


def test_offline_parent_cannot_be_shared_across_processes() -> None:
    p = plan(task=TaskInfo(**{**CHILD_REMOTE.__dict__, "parent_offline": True}))
    assert p.init_kwargs["mode"] == "offline" and p.init_kwargs["resume"] == "allow"
    assert "x_primary" not in p.settings


def test_explicit_id_wins_over_derived_id() -> None:
    assert plan({"id": "mine"}).run_id == "mine"


def test_plain_function_outside_task_lets_wandb_pick_the_id() -> None:
    p = plan(task=TaskInfo(in_task=False, is_task=False))
    assert p.action == "init" and "id" not in p.init_kwargs and "resume" not in p.init_kwargs


def test_plain_function_inside_tracked_scope_reuses_it_in_auto_mode() -> None:
    p = plan(task=TaskInfo(in_task=True, is_task=False, enclosing_run_id="r-a1"))
    assert (p.action, p.run_id) == ("reuse", "r-a1")


def test_sweep_trial_always_gets_its_own_run() -> None:
    p = plan(task=TaskInfo(in_task=True, is_task=False, enclosing_run_id="r-a1", sweep_trial=True))
    assert p.action == "init" and "id" not in p.init_kwargs


def test_decorator_beats_context_and_config_merges() -> None:
    merged = merge_settings(
        {"project": "dec", "config": {"b": 2, "s": "dec"}},
        {"project": "ctx", "group": "g", "config": {"a": 1, "s": "ctx"}},
    )
    assert merged["project"] == "dec" and merged["group"] == "g"
    assert merged["config"] == {"a": 1, "b": 2, "s": "dec"}
    assert (merged["run_mode"], merged["rank_scope"]) == ("auto", "global")


def test_settings_dicts_merge_key_by_key() -> None:
    merged = merge_settings({"kwargs": {"settings": {"a": 1}}}, {"kwargs": {"settings": {"b": 2}, "x": 1}})
    assert merged["kwargs"] == {"settings": {"a": 1, "b": 2}, "x": 1}


def test_context_values_are_validated_too() -> None:
    with pytest.raises(WandbConfigError, match="run_mode='bogus'"):
        merge_settings({}, {"run_mode": "bogus"})


@pytest.mark.parametrize(
    ("explicit", "env", "creds", "expected"),
    [
        (None, {}, False, "offline"),
        (None, {"WANDB_API_KEY": "k"}, False, None),
        (None, {}, True, None),
        (None, {"WANDB_MODE": "online"}, False, None),
        ("online", {}, False, "online"),
        ("disabled", {"WANDB_API_KEY": "k"}, False, "disabled"),
    ],
)
def test_offline_by_default_without_credentials(explicit, env, creds, expected) -> None:
    assert choose_mode(explicit, env, creds) == expected


def test_hosts() -> None:
    assert api_base_url("https://wandb.ai") == "https://api.wandb.ai"
    assert api_base_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    assert ui_host(None, "https://api.wandb.ai") == "https://wandb.ai"
    assert ui_host(None, None) == "https://wandb.ai"
    assert ui_host("https://w.example.com/", "https://api.wandb.ai") == "https://w.example.com"


def test_the_server_of_a_host_and_its_netrc_login(tmp_path, monkeypatch) -> None:
    from flyteplugins.wandb_core._state import wandb_server

    # What `wandb login` writes for W&B cloud: the API host, not the UI host users name.
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine api.wandb.ai login user password k\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("WANDB_BASE_URL", raising=False)
    assert wandb_server("https://wandb.ai") == ("https://api.wandb.ai", True)
    assert wandb_server(None) == (None, True)  # wandb picks the server: W&B cloud here
    assert wandb_server("https://w.example.com/") == ("https://w.example.com", False)
    monkeypatch.setenv("WANDB_BASE_URL", "https://w.example.com")
    assert wandb_server(None) == (None, False)


def test_host_sets_the_sdk_base_url() -> None:
    assert plan({"host": "https://w.example.com"}).settings["base_url"] == "https://w.example.com"


def test_passthrough_arguments_reach_wandb_init() -> None:
    p = plan({"tags": ["a"], "notes": "n", "job_type": "j", "kwargs": {"save_code": True, "settings": {"x": 1}}})
    assert p.init_kwargs["tags"] == ["a"] and p.init_kwargs["notes"] == "n"
    assert p.init_kwargs["job_type"] == "j" and p.init_kwargs["save_code"] is True
    assert p.settings["x"] == 1
