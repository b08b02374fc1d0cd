"""The sweep section of the W&B report tab: a table of trials with the best one marked, and charts.

The trials are real offline runs opened by a real ``@wandb_init`` objective inside a Flyte local-mode
task with ``report=True``; their per-step curves are read back from the runs' own logs.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import flyte
import pytest
from report_html import TAB, parse_html

from flyteplugins.wandb import get_wandb_run, wandb_init
from flyteplugins.wandb.testing import read_offline_runs
from flyteplugins.wandb_core._report import report_sweep

pytestmark = pytest.mark.integration

env = flyte.TaskEnvironment(name="report_sweep_it")

LEARNING_RATES = (0.3, 0.05, 0.2, 0.01, 0.1)
STEPS = 40


OPENED: list[str] = []  # run ids in the order the objective opened them


@wandb_init(run_mode="new", project="sweep-rep")
def objective(lr: float, fail: bool = False) -> dict:
    run = get_wandb_run()
    OPENED.append(run.id)
    loss = 1.0
    for step in range(STEPS):
        loss = abs(math.log10(lr) + 1.0) + math.exp(-step * lr)  # best near lr = 0.1
        run.log({"loss": loss, "step_lr": lr})
        if fail and step == 5:
            raise RuntimeError("trial diverged")
    return {"run_id": run.id, "metric": loss, "run_dir": str(Path(run.dir).parent)}


@env.task(report=True)
def sweep_task(goal: str) -> list[dict]:
    trials: list[dict] = []
    for i, lr in enumerate(LEARNING_RATES):
        out = objective(lr)
        trials.append({**out, "params": {"lr": lr, "batch": 32 * (i + 1)}, "state": "finished"})
    # A failed trial has no metric: it is listed, never the best.
    try:
        objective(0.5, fail=True)
    except RuntimeError:
        trials.append({"run_id": OPENED[-1], "params": {"lr": 0.5, "batch": 999}, "state": "failed"})
    written = report_sweep(
        trials,
        "loss",
        maximize=goal == "maximize",
        sweep_id="swp123",
        runs_url="https://wandb.example.test/team/sweep-rep",
    )
    assert written
    return [{**t, "metric": t.get("metric")} for t in trials]


@pytest.mark.parametrize("goal", ["minimize", "maximize"])
def test_sweep_tab_lists_every_trial_and_marks_the_best(run_with_report, wandb_dir: Path, goal: str) -> None:
    rep = run_with_report(sweep_task, goal)
    trials = rep.outputs[0]
    assert len(read_offline_runs(wandb_dir)) == len(LEARNING_RATES) + 1
    assert rep.tab_names() == [TAB]
    [section] = rep.tab().find_all("section", cls="fwb-sweep")
    assert section.attrs["data-sweep-id"] == "swp123"

    rows = [tr for tr in section.find_all("tr") if "data-run-id" in tr.attrs]
    assert [tr.attrs["data-run-id"] for tr in rows] == [t["run_id"] for t in trials]

    scored = [t for t in trials if t["metric"] is not None]
    pick = min if goal == "minimize" else max
    best = pick(scored, key=lambda t: t["metric"])
    marked = [tr for tr in rows if tr.attrs["data-best"] == "true"]
    assert [tr.attrs["data-run-id"] for tr in marked] == [best["run_id"]]
    assert "fwb-best" in marked[0].classes and "best" in marked[0].text

    # Each row: link to the trial's run, state, metric value and parameters.
    for tr, trial in zip(rows, trials, strict=True):
        hrefs = [a.attrs["href"] for a in tr.find_all("a")]
        assert hrefs == [f"https://wandb.example.test/team/sweep-rep/runs/{trial['run_id']}"]
        assert trial["state"] in tr.text
        assert str(trial["params"]["batch"]) in tr.text
    failed_row = rows[-1]
    assert "—" in failed_row.text and failed_row.attrs["data-best"] == "false"

    # Charts: the metric per trial with best-so-far, and the per-step curves read from the trials' logs.
    charts = {f.attrs["data-chart"]: f for f in section.find_all("figure", cls="fwb-chart")}
    assert set(charts) == {"per-trial", "per-step"}
    assert "best so far" in charts["per-trial"].text
    per_step_paths = [p for p in charts["per-step"].find_all("path") if len(p.attrs.get("d", "")) > 200]
    assert len(per_step_paths) >= len(LEARNING_RATES)
    assert f"{len(LEARNING_RATES)} trials" in charts["per-step"].text


def test_sweep_report_outside_a_task_is_a_no_op() -> None:
    assert report_sweep([{"run_id": "a", "metric": 1.0}], "loss", maximize=False) is False


def test_bad_direction_is_a_warning_not_an_error() -> None:
    with pytest.warns(RuntimeWarning, match=re.escape("maximize must be True or False, got 'lowest'")):
        assert report_sweep([{"run_id": "a", "metric": 1.0}], "loss", maximize="lowest") is False  # type: ignore[arg-type]


def test_sweep_tab_page_parses_as_one_tab(run_with_report) -> None:
    rep = run_with_report(sweep_task, "minimize")
    doc = parse_html(rep.html)
    assert len(doc.find_all("div", cls="fwb")) == 1
    assert rep.path.stat().st_size < 200_000
