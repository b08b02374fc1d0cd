"""Online sweep against the loopback W&B server: the server is the controller, agents are Flyte tasks."""

from __future__ import annotations

import flyte
import pytest
import sweep_tasks as st

from flyteplugins.wandb import wandb_config, wandb_sweep_config

GRID = st.grid("sweeps-online")


def test_server_sees_the_sweep_its_agents_and_every_trial(wandb_server, capfd):
    st.SETTINGS.update(count=4, agents=2, poll_interval=0.2)
    context = {**wandb_config(project="sweeps-online"), **wandb_sweep_config(**GRID)}
    run = flyte.with_runcontext(mode="local", name="online-run", custom_context=context).run(st.sweep_async, "grid")
    sweep_id = run.outputs()[0]
    result = st.SETTINGS["result"]
    assert result.mode == "online"

    sweep = wandb_server.sweep(sweep_id)
    assert sweep.project == "sweeps-online"
    assert sweep.config["method"] == "grid" and sweep.config["name"] == result.name
    assert len(sweep.agents) == 2  # one registered agent per agent task
    assert all(agent.heartbeats > 0 for agent in sweep.agents.values())
    assert sorted(sweep.run_names) == sorted(t.run_id for t in result.trials)

    runs = [wandb_server.run(name, project="sweeps-online") for name in sweep.run_names]
    assert len(runs) == 4
    assert all(r.sweep == sweep_id for r in runs)
    assert sorted((r.config["a"], r.config["b"]) for r in runs) == [(1, "x"), (1, "y"), (2, "x"), (2, "y")]
    for r in runs:
        assert r.summary["score"] == r.config["a"] * 10 + (1 if r.config["b"] == "y" else 0)
        assert r.exit_code == 0 and r.state == "finished"
    assert result.best.params == {"a": 2, "b": "y"} and result.best.metric == 21
    assert sorted(t.agent for t in result.trials).count(0) >= 1 and {t.agent for t in result.trials} == {0, 1}
    assert "trial 4/4" in capfd.readouterr().err


def test_failing_online_trial_is_failed_on_the_server_and_the_sweep_goes_on(wandb_server):
    st.SETTINGS.update(count=4, agents=2, poll_interval=0.2, fail_when=(2, "x"))
    context = {**wandb_config(project="sweeps-online"), **wandb_sweep_config(**GRID)}
    run = flyte.with_runcontext(mode="local", name="online-fail", custom_context=context).run(st.sweep_sync, "grid")
    sweep = wandb_server.sweep(run.outputs()[0])
    runs = {(r.config["a"], r.config["b"]): r for r in (wandb_server.run(n) for n in sweep.run_names)}
    assert len(runs) == 4
    assert runs[(2, "x")].exit_code != 0
    assert all(runs[k].exit_code == 0 for k in runs if k != (2, "x"))
    result = st.SETTINGS["result"]
    assert [t.params for t in result.failed] == [{"a": 2, "b": "x"}]


def test_download_logs_fetches_every_trial_after_an_online_sweep(wandb_server, tmp_path):
    from flyteplugins.wandb_core import _download as core_download

    if not hasattr(core_download, "download_wandb_sweep_logs"):
        pytest.skip("core's download_wandb_sweep_logs (online log download) is not available yet")
    import asyncio

    st.SETTINGS.update(count=4, agents=2, poll_interval=0.2)
    context = {**wandb_config(project="sweeps-online"), **wandb_sweep_config(**GRID)}
    run = flyte.with_runcontext(mode="local", name="online-logs", custom_context=context).run(
        st.sweep_with_logs, "grid"
    )
    logs = run.outputs()[0]
    local = tmp_path / "downloaded"
    asyncio.run(logs.download(str(local)))
    paths = [str(p) for p in local.rglob("*")]
    result = st.SETTINGS["result"]
    assert len(result.trials) == 4
    assert all(any(t.run_id in p for p in paths) for t in result.trials)


def test_rerun_of_a_named_online_sweep_continues_it_on_the_server(wandb_server, capfd):
    # A retried or re-run sweep task with the same sweep name: the server's sweep goes on.
    context = {**wandb_config(project="sweeps-online"), **wandb_sweep_config(name="resumable", **GRID)}
    st.SETTINGS.update(count=2, agents=2, poll_interval=0.2)
    first = flyte.with_runcontext(mode="local", name="resume-1", custom_context=context).run(st.sweep_async, "grid")
    st.SETTINGS.update(count=4, agents=2, poll_interval=0.2)
    second = flyte.with_runcontext(mode="local", name="resume-2", custom_context=context).run(st.sweep_async, "grid")
    assert first.outputs()[0] == second.outputs()[0]
    (sweep,) = wandb_server.sweeps()
    runs = [wandb_server.run(name, project="sweeps-online") for name in sweep.run_names]
    assert len(runs) == 4  # count=4 in total: the second task ran the 2 trials left
    assert sorted((r.config["a"], r.config["b"]) for r in runs) == [(1, "x"), (1, "y"), (2, "x"), (2, "y")]
    result = st.SETTINGS["result"]
    # The second task's result holds the whole sweep: the 2 trials of the first task, marked resumed
    # (read back from the server), and its own 2; the best is the best of all four.
    assert len(result.trials) == 4
    assert len([t for t in result.trials if t.resumed]) == 2
    assert {t.run_id for t in result.trials} == set(sweep.run_names)
    assert all(t.metric is not None for t in result.trials)
    assert result.best.params == {"a": 2, "b": "y"}
    assert "resuming: 2 trial(s) already ended on the server" in capfd.readouterr().err


def test_agents_beyond_the_trials_left_register_no_idle_server_agents(wandb_server):
    # agents=6 for 2 trials: only 2 agents reach the server; a re-run with nothing left registers none
    # (idle agents would sit on the sweep's W&B page without ever running a trial).
    context = {**wandb_config(project="sweeps-online"), **wandb_sweep_config(name="few-trials", **GRID)}
    st.SETTINGS.update(count=2, agents=6, poll_interval=0.2)
    flyte.with_runcontext(mode="local", name="few-1", custom_context=context).run(st.sweep_sync, "grid")
    (sweep,) = wandb_server.sweeps()
    assert len(sweep.run_names) == 2
    assert len(sweep.agents) == 2
    assert st.SETTINGS["result"].agents == 2
    flyte.with_runcontext(mode="local", name="few-2", custom_context=context).run(st.sweep_sync, "grid")
    assert len(wandb_server.sweep(sweep.name).agents) == 2
    result = st.SETTINGS["result"]
    assert result.agents == 0 and [t.resumed for t in result.trials] == [True, True]
