"""Sweep trials say which Flyte action ran them, and keep their parameters as the config (local mode)."""

from __future__ import annotations

import flyte
import sweep_tasks as st

from flyteplugins.wandb import get_wandb_run, run_sweep_agents, wandb_init, wandb_sweep, wandb_sweep_config
from flyteplugins.wandb.testing import read_offline_runs


# A `def` objective: an `async def` task objective that logs while its run is still opening blocks
# its event loop in local mode (a known early-open limitation, reported separately).
@wandb_init
@st.env.task
def task_objective() -> None:
    run = get_wandb_run()
    run.log({"score": run.config["a"] * 10})


@wandb_sweep
@st.env.task
async def sweep_of_tasks() -> str:
    result = await run_sweep_agents.aio(task_objective, count=2, agents=2, poll_interval=0.2)
    return result.sweep_id


def _run(task, *args, name: str):
    rc = flyte.with_runcontext(mode="local", name=name, custom_context=wandb_sweep_config(**st.grid("meta-sweeps")))
    return rc.run(task, *args)


def test_function_trials_keep_their_parameters_and_record_their_agents_action(wandb_dir) -> None:
    st.SETTINGS.update(count=2, agents=2)
    sweep_id = _run(st.sweep_async, "grid", name="trials-run").outputs()[0]
    runs = read_offline_runs(wandb_dir)
    assert len(runs) == 2
    for run in runs:
        assert {"a", "b"} <= set(run.config)  # the trial's parameters, as they were
        block = run.config["flyte"]
        # A function trial runs inside its agent's action (a child of the sweep task's action).
        assert block["run_name"] == "trials-run" and block["task_name"] is None
        assert block["action_name"] not in ("", st.SETTINGS["action"])
        assert run.group == sweep_id  # the sweep's grouping is left alone
        assert run.tags == ["flyte-run:trials-run"]


def test_task_trials_are_named_after_their_trial_action(wandb_dir) -> None:
    sweep_id = _run(sweep_of_tasks, name="task-trials").outputs()[0]
    runs = read_offline_runs(wandb_dir)
    assert len(runs) == 2
    actions = set()
    for run in runs:
        assert {"a", "b"} <= set(run.config)
        block = run.config["flyte"]
        assert (block["run_name"], block["task_name"]) == ("task-trials", "sweep-tests.task_objective")
        assert run.name == f"task_objective-{block['action_name']}"
        assert run.job_type == "sweep-tests.task_objective"
        assert run.group == sweep_id
        actions.add(block["action_name"])
    assert len(actions) == 2  # each trial ran as an action of its own
