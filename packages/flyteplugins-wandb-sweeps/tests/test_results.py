"""SweepResult, progress lines, the WandbSweep link and launcher argument checks."""

from __future__ import annotations

import pytest

from flyteplugins.wandb_core import WandbConfigError, wandb_init
from flyteplugins.wandb_sweeps import SweepResult, TrialResult, WandbSweep
from flyteplugins.wandb_sweeps._launcher import _check_arguments
from flyteplugins.wandb_sweeps._results import Progress


def _trial(run_id, metric, state="finished", **kw):
    return TrialResult(run_id=run_id, params={"x": metric}, state=state, metric=metric, **kw)


@pytest.mark.parametrize(("goal", "best"), [("minimize", "b"), ("maximize", "c")])
def test_best_ignores_failed_and_metricless_trials(goal, best):
    result = SweepResult(
        "sw",
        "offline",
        "loss",
        goal,
        trials=[
            _trial("a", -100.0, state="failed", error="ValueError: x"),
            _trial("b", 1.0),
            _trial("c", 3.0),
            _trial("d", None, metric_missing=True),
            _trial("e", -50.0, state="stopped"),
        ],
    )
    assert result.best.run_id == best
    assert [t.run_id for t in result.failed] == ["a"]
    d = result.to_dict()
    assert d["best"]["run_id"] == best and len(d["trials"]) == 5


def test_no_metric_means_no_best():
    result = SweepResult("sw", "offline", None, "minimize", trials=[_trial("a", None)])
    assert result.best is None


def test_trial_result_round_trips_through_json_dicts():
    t = TrialResult("r", {"lr": 0.1}, summary={"loss": 1.0, "_step": 3, "obj": object()}, agent=2)
    back = TrialResult.from_dict(t.to_dict())
    assert back.params == {"lr": 0.1} and back.agent == 2 and "_step" not in back.summary
    assert isinstance(back.summary["obj"], str)


def test_progress_lines_track_the_best_so_far():
    p = Progress("sw", 3, "loss", "minimize")
    assert "trial 1/3 a [agent 0] loss=2 " in p.line(_trial("a", 2.0)) and "best loss=2 (a)" in p.line(_trial("b", 5.0))
    line = p.line(TrialResult("c", {}, state="failed", error="ValueError: boom"))
    assert "trial 3/3 c" in line and "FAILED (ValueError: boom)" in line and "best loss=2 (a)" in line
    assert "reported no 'loss'" in Progress("sw", 1, "loss", "minimize").line(_trial("d", None))


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        ({"val_loss": 0.3, "acc": 0.9, "_step": 4}, "reported no 'loss' (it logged 'acc', 'val_loss')"),
        ({"_step": 0}, "reported no 'loss' (it logged nothing)"),
        ({"loss": float("nan")}, "loss=nan is not a finite number (not ranked)"),
        ({f"k{i}": i for i in range(7)}, "(it logged 'k0', 'k1', 'k2', 'k3', 'k4', ...)"),
    ],
)
def test_a_trial_without_the_metric_says_what_it_logged_instead(summary, expected):
    # A misspelt metric name or a diverged (NaN) trial is plain from the progress line.
    trial = _trial("d", None, metric_missing=True, summary=summary)
    assert expected in Progress("sw", 1, "loss", "minimize").line(trial)


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({}, "https://wandb.ai"),
        ({"wandb_project": "p", "wandb_entity": "e"}, "https://wandb.ai/e/p/sweeps"),
        ({"wandb_project": "p", "wandb_entity": "e", "_wandb_sweep_id": "s1"}, "https://wandb.ai/e/p/sweeps/s1"),
        (
            {
                "wandb_sweep_project": "sp",
                "wandb_project": "p",
                "wandb_entity": "e",
                "_wandb_sweep_id": "s1",
                "wandb_host": "https://w.example.com",
            },
            "https://w.example.com/e/sp/sweeps/s1",
        ),
        (
            {
                "_wandb_sweep_project": "p",
                "_wandb_sweep_entity": "e",
                "_wandb_sweep_id": "s1",
                "_wandb_sweep_mode": "offline",
            },
            "https://wandb.ai/e/p/groups/s1",
        ),
    ],
)
def test_sweep_link(context, expected, monkeypatch):
    monkeypatch.delenv("WANDB_BASE_URL", raising=False)
    assert WandbSweep().get_link("run", "fp", "dev", context, "a0", "a1", "pod") == expected


def test_sweep_link_explicit_values_win(monkeypatch):
    monkeypatch.delenv("WANDB_BASE_URL", raising=False)
    link = WandbSweep(project="p", entity="e", id="s9", host="http://127.0.0.1:8080")
    assert link.get_link("run", "fp", "dev", {"_wandb_sweep_id": "s1"}, "a0", "a1", "pod") == (
        "http://127.0.0.1:8080/e/p/sweeps/s9"
    )


@wandb_init
def _objective() -> None: ...


def _plain() -> None: ...


@pytest.mark.parametrize(
    ("objective", "count", "agents", "message"),
    [
        (_objective, 30, 21, r"agents=21 exceeds the cap of 20"),
        (_objective, 3, 0, r"agents must be an integer from 1 to 20"),
        (_objective, 0, 2, r"count \(total number of trials\) must be a positive integer"),
        (_plain, 3, 2, r"must be decorated with @wandb_init"),
    ],
)
def test_launcher_arguments_are_checked(objective, count, agents, message):
    with pytest.raises(WandbConfigError, match=message):
        _check_arguments(objective, count, agents)
    _check_arguments(_objective, 3, 20)


def test_blocking_call_from_async_code_points_to_aio():
    import asyncio

    from flyteplugins.wandb_sweeps import run_sweep_agents

    async def body() -> None:
        run_sweep_agents(_objective, 1)

    with pytest.raises(RuntimeError, match=r"await run_sweep_agents.aio\(\.\.\.\)"):
        asyncio.run(body())
