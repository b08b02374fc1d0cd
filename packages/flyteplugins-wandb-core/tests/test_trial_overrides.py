"""Sweep-trial overrides are an input of the pure resolver (no plan is patched after resolve_run)."""

from __future__ import annotations

import json

from flyteplugins.wandb_core._resolve import RunPlan, TaskInfo, Topology, merge_settings, resolve_run
from flyteplugins.wandb_core._state import TRIAL_CONTEXT_KEY, take_trial_overrides, trial_scope

TASK = TaskInfo(in_task=True, is_task=True, run_name="r", action_name="a1", flyte_mode="remote")
TRIAL = {
    "id": "sw-003",
    "config": {"lr": 0.1},
    "group": "sw",
    "mode": "offline",
    "project": "p",
    "settings": {"sweep_id": "sw"},
}


def test_trial_overrides_name_the_run_and_merge_config_and_settings():
    settings = merge_settings({"config": {"epochs": 3}, "project": "other"}, {})
    plan = resolve_run(settings, TASK, trial=TRIAL)
    assert plan.action == "init" and plan.primary
    assert plan.run_id == "sw-003" and plan.init_kwargs["id"] == "sw-003"
    assert plan.init_kwargs["config"] == {"epochs": 3, "lr": 0.1}
    assert plan.init_kwargs["group"] == "sw" and plan.init_kwargs["project"] == "p"
    assert plan.init_kwargs["mode"] == "offline"
    assert plan.settings["sweep_id"] == "sw"
    assert "resume" not in plan.init_kwargs  # a trial is a run of its own, never a continuation
    # Even with a tracked parent, a trial does not join the parent's run.
    child = TaskInfo(in_task=True, is_task=True, run_name="r", action_name="a1", parent_run_id="r-a0")
    assert resolve_run(merge_settings({}, {}), child, trial=TRIAL).run_id == "sw-003"


def test_a_distributed_trial_hands_its_id_to_the_rank_resolver_as_the_base_id():
    seen: dict = {}

    def distributed(settings, topology, plan: RunPlan) -> RunPlan:
        seen["base"] = plan.run_id
        seen["config"] = plan.init_kwargs["config"]
        return plan

    topo = Topology(rank=1, local_rank=1, world_size=2, local_world_size=2, worker_index=0, num_workers=1)
    resolve_run(merge_settings({}, {}), TASK, topo, distributed=distributed, trial=TRIAL)
    assert seen == {"base": "sw-003", "config": {"lr": 0.1}}


def test_overrides_come_from_the_scope_first_then_from_the_trial_action_context():
    context = {TRIAL_CONTEXT_KEY: json.dumps({"id": "from-context"})}
    with trial_scope(id="in-process"):
        assert take_trial_overrides(context)["id"] == "in-process"
        assert take_trial_overrides(context) == {"id": "from-context"}  # the scope's were consumed
    assert take_trial_overrides({TRIAL_CONTEXT_KEY: ""}) is None  # blanked for a trial's children
    assert take_trial_overrides({TRIAL_CONTEXT_KEY: "not json"}) is None


def test_trial_context_is_read_back_as_the_action_s_overrides_and_blanks_the_parent_run():
    from flyteplugins.wandb_core._config import RUN_ID_KEY
    from flyteplugins.wandb_core.ext import trial_context

    keys = trial_context(**TRIAL)
    assert take_trial_overrides(keys) == TRIAL
    assert keys[RUN_ID_KEY] == ""  # the trial's run is no child of the calling task's run
