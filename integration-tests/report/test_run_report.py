"""The "Weights & Biases" tab of tracked tasks' Flyte reports, rendered by real local runs.

Each test runs a real task in Flyte local mode with real (offline) wandb runs, then parses the
report.html Flyte wrote and compares it with the offline run files wandb wrote.
"""

from __future__ import annotations

import asyncio
import math
import sys
import warnings
from pathlib import Path

import flyte
import pytest
from report_html import TAB, parse_html

from flyteplugins.wandb import get_wandb_run, wandb_init
from flyteplugins.wandb.testing import read_offline_runs

pytestmark = pytest.mark.integration

env = flyte.TaskEnvironment(name="report_it")

STEPS = 60
METRICS = ("loss", "accuracy", "lr")


def _log_training(steps: int) -> None:
    run = get_wandb_run()
    for step in range(steps):
        run.log(
            {
                "loss": math.exp(-step / 20),
                "accuracy": 1 - math.exp(-step / 30),
                "lr": 0.1 * 0.99**step,
                "phase": "train",  # not numeric: summary only, no chart
            }
        )
    run.summary["best_accuracy"] = 0.875


@wandb_init(project="rep", entity="team", host="http://wandb.example.test", config={"lr": 0.1, "layers": 3})
@env.task(report=True)
def train(steps: int) -> str:
    _log_training(steps)
    return get_wandb_run().id


@wandb_init(project="rep")
@env.task
def train_without_report(steps: int) -> str:
    _log_training(steps)
    return get_wandb_run().id


@wandb_init(project="rep")
@env.task(report=True)
async def fails_after_logging() -> None:
    run = get_wandb_run()
    for step in range(5):
        run.log({"loss": 1.0 + step})
    raise ValueError("diverged")


def _chart_metrics(section) -> list[str]:
    return [f.attrs["data-metric"] for f in section.find_all("figure", cls="fwb-chart")]


def _summary(section) -> dict[str, str]:
    [table] = section.find_all("table", cls="fwb-summary")
    return {tr.attrs["data-key"]: tr.find_all("td")[0].text for tr in table.find_all("tr")}


def test_report_tab_shows_run_summary_and_one_chart_per_metric(run_with_report, wandb_dir: Path) -> None:
    rep = run_with_report(train, STEPS)
    [logged] = read_offline_runs(wandb_dir)
    assert rep.outputs[0] == logged.id

    assert rep.tab_names() == [TAB]
    [section] = rep.tab().find_all("section", cls="fwb-run")
    assert section.attrs["data-run-id"] == logged.id
    assert logged.id in section.find_all("h2")[0].text
    assert "finished" in section.find_all("span", cls="fwb-state")[0].text

    # Host/entity/project-aware link, even offline (entity and project are known here).
    links = [a.attrs["href"] for a in section.find_all("a")]
    assert f"http://wandb.example.test/team/rep/runs/{logged.id}" in links

    summary = _summary(section)
    assert float(summary["loss"]) == pytest.approx(logged.summary["loss"], rel=1e-5)
    assert float(summary["accuracy"]) == pytest.approx(logged.summary["accuracy"], rel=1e-5)
    assert summary["best_accuracy"] == "0.875"
    assert summary["phase"] == "train"
    assert not any(k.startswith("_") for k in summary)

    [config] = section.find_all("table", cls="fwb-config")
    assert {tr.attrs["data-key"]: tr.find_all("td")[0].text for tr in config.find_all("tr")} == {
        "lr": "0.1",
        "layers": "3",
    }

    # One chart per numeric metric, each an inline SVG with a drawn line.
    assert sorted(_chart_metrics(section)) == sorted(METRICS)
    for figure in section.find_all("figure", cls="fwb-chart"):
        [svg] = figure.find_all("svg")
        assert any(len(p.attrs.get("d", "")) > 100 for p in svg.find_all("path"))
        assert f"{STEPS} points" in figure.find_all("figcaption")[0].text

    # Self-contained: no scripts, no external resources in the tab.
    tab_html = rep.html[rep.html.index('<div class="fwb">') :]
    assert "<script" not in tab_html.split("</div>\n")[0]
    assert "src=" not in tab_html.split("</body>")[0]


def test_report_is_small(run_with_report) -> None:
    rep = run_with_report(train, 1000)
    # Three metrics x 1,000 steps, downsampled: far below the 1 MB budget for a whole sweep.
    assert rep.path.stat().st_size < 150_000


def test_no_tab_without_report_flag(run_with_report, wandb_dir: Path) -> None:
    rep = run_with_report(train_without_report, 5)
    assert rep.paths == []
    [logged] = read_offline_runs(wandb_dir)
    assert logged.metric("loss")  # the run itself is tracked as usual


def test_failed_task_still_writes_its_tab(run_with_report, wandb_dir: Path) -> None:
    rep = run_with_report(fails_after_logging, expect_error=True)
    assert "diverged" in str(rep.error)
    [logged] = read_offline_runs(wandb_dir)
    assert logged.exit_code != 0
    [section] = rep.tab().find_all("section", cls="fwb-run")
    assert section.attrs["data-run-id"] == logged.id
    assert section.find_all("span", cls="fwb-state")[0].text == "failed"
    assert "ValueError: diverged" in section.text
    assert _chart_metrics(section) == ["loss"]
    assert _summary(section)["loss"] == "5"


@wandb_init(run_mode="new", project="rep")
def evaluate(split: str) -> str:
    run = get_wandb_run()
    for step in range(4):
        run.log({f"{split}/score": step * 0.25})
    return run.id


@wandb_init(project="rep")
@env.task(report=True)
def train_and_evaluate() -> list[str]:
    get_wandb_run().log({"loss": 0.5})
    get_wandb_run().log({"loss": 0.25})
    return [get_wandb_run().id, evaluate("val"), evaluate("test")]


def test_runs_of_new_mode_functions_are_listed_in_the_task_tab(run_with_report) -> None:
    rep = run_with_report(train_and_evaluate)
    task_run, val_run, test_run = rep.outputs[0]
    sections = rep.tab().find_all("section", cls="fwb-run")
    assert [s.attrs["data-run-id"] for s in sections] == [task_run, val_run, test_run]
    assert _chart_metrics(sections[0]) == ["loss"]
    assert _chart_metrics(sections[1]) == ["val/score"]
    assert _chart_metrics(sections[2]) == ["test/score"]
    assert "function" in sections[1].text


@wandb_init(project="rep")
@env.task(report=True)
async def child_with_report(x: int) -> str:
    for step in range(3):
        get_wandb_run().log({"child_metric": x * step})
    return get_wandb_run().id


@wandb_init(project="rep")
@env.task
async def parent_without_report() -> str:
    get_wandb_run().log({"parent_metric": 1.0})
    return await child_with_report(2)


def test_child_sharing_its_parents_run_shows_that_run_still_open(run_with_report, wandb_dir: Path) -> None:
    rep = run_with_report(parent_without_report)
    [logged] = read_offline_runs(wandb_dir)
    assert rep.outputs[0] == logged.id  # auto mode: the child logged into the parent's run
    [section] = rep.tab().find_all("section", cls="fwb-run")  # only the child asked for a report
    assert section.attrs["data-run-id"] == logged.id
    assert section.find_all("span", cls="fwb-state")[0].text == "running"
    # The run is still open: its log on disk may lag, but the live summary has the child's values.
    summary = _summary(section)
    assert (summary["child_metric"], summary["parent_metric"]) == ("4", "1")
    assert "still open" in section.text


def test_without_matplotlib_the_tab_has_tables_and_a_hint(run_with_report, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    rep = run_with_report(train, 10)
    [section] = rep.tab().find_all("section", cls="fwb-run")
    assert section.find_all("svg") == []
    [hint] = section.find_all("p", cls="fwb-no-charts")
    assert "flyteplugins-wandb[report]" in hint.text
    assert _summary(section)["best_accuracy"] == "0.875"


def test_a_failure_to_build_the_tab_never_fails_the_task(run_with_report, monkeypatch, wandb_dir) -> None:
    from flyteplugins.wandb_core import _report

    def broken(*args, **kwargs):
        raise RuntimeError("renderer exploded")

    monkeypatch.setattr(_report, "render_runs", broken)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rep = run_with_report(train, 3)
    [logged] = read_offline_runs(wandb_dir)
    assert rep.outputs[0] == logged.id and logged.exit_code == 0
    assert any("renderer exploded" in str(w.message) and w.category is RuntimeWarning for w in caught)
    assert rep.paths == []  # nothing was written, and nothing else broke


@wandb_init(project="rep")
@env.task(report=True)
async def concurrent_child(i: int) -> str:
    for step in range(5):
        get_wandb_run().log({f"metric_{i}": step * i})
        await asyncio.sleep(0)
    return get_wandb_run().id


@env.task
async def fan_out() -> list[str]:
    return list(await asyncio.gather(*(concurrent_child(i) for i in range(1, 4))))


def test_concurrent_tasks_each_get_their_own_tab(run_with_report) -> None:
    rep = run_with_report(fan_out)
    run_ids = rep.outputs[0]
    assert len(rep.paths) == 3
    seen = {}
    for path in rep.paths:
        [section] = parse_html(path.read_text()).find_all("section", cls="fwb-run")
        seen[section.attrs["data-run-id"]] = _chart_metrics(section)
    assert seen == {rid: [f"metric_{i}"] for i, rid in enumerate(run_ids, start=1)}


@env.task
async def untracked_child() -> str:
    return evaluate("child")  # a run of its own, opened in another Flyte action


@wandb_init(project="rep")
@env.task(report=True)
async def parent_with_report() -> list[str]:
    get_wandb_run().log({"loss": 1.0})
    return [get_wandb_run().id, await untracked_child()]


def test_runs_opened_in_child_tasks_stay_out_of_the_parents_tab(run_with_report) -> None:
    rep = run_with_report(parent_with_report)
    parent_run, child_function_run = rep.outputs[0]
    assert child_function_run != parent_run
    sections = rep.tab().find_all("section", cls="fwb-run")
    assert [s.attrs["data-run-id"] for s in sections] == [parent_run]
