"""Offline sweeps in Flyte local mode: real wandb offline run files, the default engines (grid and
random in pure Python, bayes and hyperband on Optuna)."""

from __future__ import annotations

import flyte
import pytest
import sweep_tasks as st

from flyteplugins.wandb import wandb_sweep_config
from flyteplugins.wandb.testing import read_offline_runs

GRID = st.grid("sweeps-it")


def _run(task, objective, name, **cfg):
    return flyte.with_runcontext(mode="local", name=name, custom_context=wandb_sweep_config(**cfg)).run(task, objective)


@pytest.mark.parametrize("task", [st.sweep_sync, st.sweep_async], ids=["sync", "async"])
def test_grid_2x2_with_4_agents_yields_the_4_combinations(task, wandb_dir):
    st.SETTINGS.update(count=4, agents=4)
    run = _run(task, "grid", "grid-run", **GRID)
    sweep_id = run.outputs()[0]
    runs = read_offline_runs(wandb_dir)
    assert len(runs) == 4
    assert sorted((r.config["a"], r.config["b"]) for r in runs) == [(1, "x"), (1, "y"), (2, "x"), (2, "y")]
    assert {r.group for r in runs} == {sweep_id}
    assert {r.project for r in runs} == {"sweeps-it"}
    assert all(r.exit_code == 0 for r in runs)
    result = st.SETTINGS["result"]
    assert sorted(t.agent for t in result.trials) == [0, 1, 2, 3]  # every agent ran one trial
    assert result.best.params == {"a": 2, "b": "y"} and result.best.metric == 21
    assert {t.run_id for t in result.trials} == {r.id for r in runs}


def test_bayes_on_a_quadratic_beats_its_first_random_trials(wandb_dir):
    # The engine is seeded from the sweep id (the run name here), but with 3 agents which results are
    # known at each suggestion depends on timing, so the suggestions vary a little between runs: the
    # window below is wide enough for that (0.41 off was seen once in 8 runs) and narrower than the
    # [-5, 5] range random search draws from.
    st.SETTINGS.update(count=15, agents=3)
    _run(
        st.sweep_async,
        "quadratic",
        "bayes-run",
        method="bayes",
        metric={"name": "loss", "goal": "minimize"},
        parameters={"x": {"min": -5.0, "max": 5.0}},
    )
    result = st.SETTINGS["result"]
    assert len(result.trials) == 15 and not result.failed
    by_index = sorted(result.trials, key=lambda t: t.run_id)  # run ids end in the suggestion index
    first_random = min(t.metric for t in by_index[:3])  # suggested before any result was known
    assert result.best.metric < first_random
    assert abs(result.best.params["x"] - 1.3) < 0.5
    runs = read_offline_runs(wandb_dir)
    assert len(runs) == 15
    assert all(abs(r.summary["loss"] - (r.config["x"] - 1.3) ** 2) < 1e-9 for r in runs)


def test_failing_trial_is_recorded_and_the_sweep_completes(wandb_dir, capfd):
    st.SETTINGS.update(count=4, agents=2, fail_when=(1, "y"), no_metric_when=(2, "x"))
    run = _run(st.sweep_sync, "grid", "fail-run", **GRID)
    assert run.outputs()[0]  # the sweep task itself succeeded
    result = st.SETTINGS["result"]
    states = {(t.params["a"], t.params["b"]): t for t in result.trials}
    assert states[(1, "y")].state == "failed"
    assert states[(1, "y")].error == "ValueError: trial a=1 b=y diverged"
    assert states[(2, "x")].state == "finished" and states[(2, "x")].metric is None
    assert states[(2, "x")].metric_missing
    assert result.best.params == {"a": 2, "b": "y"}
    runs = {(r.config["a"], r.config["b"]): r for r in read_offline_runs(wandb_dir)}
    assert len(runs) == 4
    assert runs[(1, "y")].exit_code != 0
    assert all(runs[k].exit_code == 0 for k in runs if k != (1, "y"))
    err = capfd.readouterr().err
    assert "FAILED (ValueError: trial a=1 b=y diverged)" in err
    assert "reported no 'score'" in err
    lines = [line for line in err.splitlines() if ": trial " in line and "best" in line]
    assert len(lines) == 4 and "trial 4/4" in lines[-1] and "best score=21" in lines[-1]


def test_more_than_20_agents_fails_before_anything_starts(wandb_dir):
    st.SETTINGS.update(count=30, agents=21)
    with pytest.raises(Exception, match=r"agents=21 exceeds the cap of 20"):
        _run(st.sweep_sync, "grid", "cap-run", **GRID)
    assert not list(wandb_dir.glob("offline-run-*"))


def test_sweep_task_without_config_says_how_to_provide_one():
    with pytest.raises(Exception, match=r"no sweep configuration.*wandb_sweep_config\("):
        flyte.with_runcontext(mode="local", name="nocfg").run(st.sweep_sync, "grid")


def test_child_sweep_task_reuses_the_parent_sweep():
    run = flyte.with_runcontext(mode="local", name="reuse-run", custom_context=wandb_sweep_config(**GRID)).run(
        st.parent_sweep
    )
    parent_id, child_id = run.outputs()[0]
    assert parent_id and parent_id == child_id


def test_default_sweep_name_is_run_and_action_name():
    st.SETTINGS.update(count=1, agents=1)
    _run(st.sweep_async, "grid", "named-run", **GRID)
    result = st.SETTINGS["result"]
    assert result.name == f"named-run-{st.SETTINGS['action']}"


@pytest.mark.parametrize("task", [st.sweep_with_logs, st.sweep_with_logs_sync], ids=["async", "sync"])
def test_download_logs_collects_offline_run_dirs_as_a_dir(task, wandb_dir, tmp_path):
    st.SETTINGS.update(count=4, agents=2)
    run = _run(task, "grid", "logs-run", **GRID)
    logs = run.outputs()[0]
    result = st.SETTINGS["result"]
    local = tmp_path / "downloaded"
    import asyncio

    asyncio.run(logs.download(str(local)))
    names = sorted(p.name for p in local.rglob("offline-run-*") if p.is_dir())
    assert len(names) == 4
    assert {n.split("-", 3)[-1] for n in names} == {t.run_id for t in result.trials}
    assert all(list(local.rglob(f"{n}/run-*.wandb")) for n in names)


def test_hyperband_early_terminate_stops_worse_trials(wandb_dir):
    st.SETTINGS.update(count=4, agents=1)
    _run(
        st.sweep_sync,
        "curve",
        "hb-run",
        method="grid",
        metric={"name": "loss", "goal": "minimize"},
        parameters={"x": {"values": [0.1, 0.2, 0.3, 0.4]}},
        early_terminate={"type": "hyperband", "min_iter": 2},
    )
    result = st.SETTINGS["result"]
    by_x = {t.params["x"]: t for t in result.trials}
    assert by_x[0.1].state == "finished"
    assert [by_x[x].state for x in (0.2, 0.3, 0.4)] == ["stopped"] * 3
    runs = {r.config["x"]: r for r in read_offline_runs(wandb_dir)}
    assert len(runs[0.1].metric("loss")) == 6
    assert all(len(runs[x].metric("loss")) == 2 for x in (0.2, 0.3, 0.4))  # stopped at the first band
    assert result.best.run_id == by_x[0.1].run_id


def test_trials_that_cannot_reach_the_sweep_process_still_adapt(wandb_dir, monkeypatch, capfd):
    # What a remote run does: trial actions import the objective by path, results come back as the
    # actions' outputs, and the controller still hands out one trial at a time per slot.
    from flyteplugins.wandb_sweeps import _launcher

    monkeypatch.setattr(_launcher, "_agents_share_process", lambda: False)
    st.SETTINGS.update(count=4, agents=3, fail_when=(1, "y"))
    _run(st.sweep_async, "grid", "remote-like-run", early_terminate={"type": "hyperband", "min_iter": 2}, **GRID)
    result = st.SETTINGS["result"]
    assert result.agents == 3
    assert sorted(t.agent for t in result.trials)[0] == 0 and {t.agent for t in result.trials} <= {0, 1, 2}
    runs = read_offline_runs(wandb_dir)
    assert sorted((r.config["a"], r.config["b"]) for r in runs) == [(1, "x"), (1, "y"), (2, "x"), (2, "y")]
    (failed,) = result.failed
    assert failed.params == {"a": 1, "b": "y"}  # the failed action's exception, rebuilt by the controller
    assert "ValueError" in failed.error and "diverged" in failed.error
    err = capfd.readouterr().err
    # Said once, at the start: hyperband cannot stop a trial it cannot watch.
    assert err.count("early_terminate is NOT applied to running trials") == 1


def test_rerun_of_the_same_sweep_continues_from_its_trials_on_disk(wandb_dir):
    # Same run name -> same offline sweep id: a retried or repeated sweep task skips finished grid points.
    st.SETTINGS.update(count=2, agents=2)
    _run(st.sweep_sync, "grid", "again-run", **GRID)
    first = {t.run_id for t in st.SETTINGS["result"].trials}
    st.SETTINGS.update(count=4, agents=2)
    _run(st.sweep_sync, "grid", "again-run", **GRID)
    second = st.SETTINGS["result"]
    # Only the two grid points not done yet ran again; the first two come back as resumed trials.
    resumed = {t.run_id for t in second.trials if t.resumed}
    assert resumed == first and len(second.trials) == 4
    assert all(t.state == "finished" and t.metric is not None for t in second.trials)
    assert second.best.params == {"a": 2, "b": "y"}  # the best of all four, not just the new ones
    # A third attempt after the last trial ended runs nothing and returns the same trials and best.
    _run(st.sweep_sync, "grid", "again-run", **GRID)
    third = st.SETTINGS["result"]
    assert all(t.resumed for t in third.trials)
    assert sorted(t.run_id for t in third.trials) == sorted(t.run_id for t in second.trials)
    assert third.best.run_id == second.best.run_id
    runs = read_offline_runs(wandb_dir)
    assert sorted((r.config["a"], r.config["b"]) for r in runs) == [(1, "x"), (1, "y"), (2, "x"), (2, "y")]
    assert sorted(r.id.rsplit("-", 1)[1] for r in runs) == ["000", "001", "002", "003"]


def test_a_grid_smaller_than_count_ends_early_and_says_why(wandb_dir, capfd):
    st.SETTINGS.update(count=10, agents=3)
    _run(st.sweep_sync, "grid", "grid-short-run", **GRID)
    result = st.SETTINGS["result"]
    assert len(result.trials) == 4 and len(read_offline_runs(wandb_dir)) == 4  # each point once
    assert "4 of count=10 trials ran: the search had no more parameter sets" in capfd.readouterr().err
