"""A trial's objective starts while its run opens (real Flyte local mode, real wandb, loopback server).

The open is made slow on purpose (the loopback server delays ``UpsertBucket``, the mutation that
creates the run) so that "the objective ran before the run was open" is observable: its config reads
answer at once, its first run access waits, and nothing it logged is missing on the server.
"""

from __future__ import annotations

import time

import flyte
import pytest
import sweep_tasks as st

from flyteplugins.wandb import (
    get_wandb_run,
    run_sweep_agents,
    wandb_config,
    wandb_init,
    wandb_sweep,
    wandb_sweep_config,
)
from flyteplugins.wandb.testing import read_offline_runs

SEEN: dict[str, dict] = {}
DELAY = 1.0


@wandb_init
def timed_objective() -> None:
    import wandb

    start = time.monotonic()
    run = get_wandb_run()
    x = run.config["x"]  # the trial's own parameter, before the run is open
    module_x = wandb.config["x"]  # module-level config routes to this trial's run as well
    config_at = time.monotonic()
    run_id = run.id  # needs the run: waits for the open
    opened_at = time.monotonic()
    for step in range(3):
        run.log({"loss": x + step})
    SEEN[run_id] = {
        "x": x,
        "module_x": module_x,
        "config_s": config_at - start,
        "open_wait_s": opened_at - config_at,
        "is_run": isinstance(get_wandb_run(), wandb.Run),  # the real run, once open
        "same_run": run == get_wandb_run(),
    }


@wandb_init
async def async_objective() -> None:
    import asyncio

    run = get_wandb_run()
    x = run.config["x"]
    await asyncio.sleep(0)
    for step in range(3):
        run.log({"loss": x + step})
    SEEN[run.id] = {"x": x}


@wandb_init
async def eager_async_objective() -> None:
    """Needs its run before its first await: the open must not wait for this event loop."""
    run = get_wandb_run()
    for step in range(3):
        run.log({"loss": run.config["x"] + step})
    SEEN[run.id] = {"x": run.config["x"]}


OBJECTIVE = {"fn": timed_objective}


@wandb_sweep
@st.env.task
def early_sweep() -> str:
    result = run_sweep_agents(OBJECTIVE["fn"], count=2, agents=2, poll_interval=0.2)
    st.SETTINGS["result"] = result
    return result.sweep_id


SWEEP = dict(method="random", metric={"name": "loss", "goal": "minimize"}, parameters={"x": {"min": 0.0, "max": 1.0}})


@pytest.fixture(autouse=True)
def _clear():
    SEEN.clear()
    yield
    SEEN.clear()


def test_online_trial_reads_its_config_while_its_run_opens_and_loses_nothing(wandb_server):
    wandb_server.slow(DELAY, "UpsertBucket")
    context = {**wandb_config(project="sweeps-early"), **wandb_sweep_config(**SWEEP)}
    run = flyte.with_runcontext(mode="local", name="early-online", custom_context=context).run(early_sweep)
    sweep = wandb_server.sweep(run.outputs()[0])
    assert len(SEEN) == 2 and sorted(SEEN) == sorted(sweep.run_names)
    for run_id, seen in SEEN.items():
        server_run = wandb_server.run(run_id, project="sweeps-early")
        # The objective had its parameter at once, then waited for the (slowed) open.
        assert seen["config_s"] < DELAY / 2, seen
        assert seen["open_wait_s"] > DELAY / 2, seen
        assert seen["x"] == seen["module_x"] == server_run.config["x"]
        assert seen["is_run"] and seen["same_run"]
        # Every row logged through the stand-in reached the run, in order.
        assert [row["loss"] for row in server_run.history] == [seen["x"] + s for s in range(3)]
        assert server_run.exit_code == 0 and server_run.state == "finished"


@pytest.mark.parametrize(
    "objective",
    [timed_objective, async_objective, eager_async_objective],
    ids=["sync", "async", "async-logs-before-awaiting"],
)
def test_offline_trials_keep_every_row_and_their_ids(tmp_path, monkeypatch, objective):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(OBJECTIVE, "fn", objective)
    context = {**wandb_config(project="sweeps-early", mode="offline"), **wandb_sweep_config(**SWEEP)}
    flyte.with_runcontext(mode="local", name="early-offline", custom_context=context).run(early_sweep)
    result = st.SETTINGS["result"]
    runs = {r.id: r for r in read_offline_runs(tmp_path / "wandb")}
    assert sorted(runs) == sorted(t.run_id for t in result.trials) == sorted(SEEN)
    for run_id, seen in SEEN.items():
        assert runs[run_id].config["x"] == seen["x"]
        assert runs[run_id].metric("loss") == [seen["x"] + s for s in range(3)]
        assert runs[run_id].finished


def test_on_error_raise_opens_before_the_body(wandb_server):
    """With on_error="raise" a failing open must fail the trial before its body runs."""
    wandb_server.fail(status=403, match="UpsertBucket")
    context = {**wandb_config(project="sweeps-early", on_error="raise"), **wandb_sweep_config(**SWEEP)}
    run = flyte.with_runcontext(mode="local", name="early-raise", custom_context=context).run(early_sweep)
    run.outputs()
    result = st.SETTINGS["result"]
    assert SEEN == {}  # no body ran
    assert [t.state for t in result.trials] == ["failed", "failed"]
