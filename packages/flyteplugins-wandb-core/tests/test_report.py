"""The W&B report tab's pure parts: downsampling, metric extraction, trial records, HTML rendering.

Rendering with charts needs matplotlib (the ``report`` extra); those tests skip without it, and the
tables-only path is tested either way.
"""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from flyteplugins.wandb_core._report import RunView, TrialRecord, render_runs, render_sweep
from flyteplugins.wandb_core._report._render import best_index, best_so_far, downsample, render_run, series_from_history


def test_downsample_keeps_ends_and_extremes_within_the_budget() -> None:
    points = [(float(i), math.sin(i / 10)) for i in range(10_000)]
    points[4321] = (4321.0, 50.0)  # a spike must survive
    out = downsample(points, 240)
    assert len(out) <= 240
    assert out[0] == points[0] and out[-1] == points[-1]
    assert (4321.0, 50.0) in out
    assert [p[0] for p in out] == sorted(p[0] for p in out)
    assert downsample(points[:100], 240) == points[:100]


def test_series_from_history_keeps_numeric_user_metrics_by_step() -> None:
    history = [
        {"_step": 0, "_runtime": 1.0, "loss": 1.0, "name": "a", "flag": True, "media": {"_type": "image-file"}},
        {"_step": 1, "loss": float("nan"), "acc": 0.5, "system/gpu": 3.0},
        {"_step": 2, "loss": 0.5, "acc": 0.75},
    ]
    series, dropped = series_from_history(history)
    assert series == {"loss": [(0.0, 1.0), (2.0, 0.5)], "acc": [(1.0, 0.5), (2.0, 0.75)]}
    assert dropped == []


def test_series_from_history_caps_the_number_of_charts() -> None:
    history = [{"_step": 0, **{f"m{i}": i for i in range(30)}}]
    series, dropped = series_from_history(history, max_metrics=24)
    assert list(series) == [f"m{i}" for i in range(24)]
    assert dropped == [f"m{i}" for i in range(24, 30)]


class _TrialLike:
    """Shaped like flyteplugins.wandb_sweeps.TrialResult."""

    def __init__(self, run_id: str, metric: float | None, state: str = "finished") -> None:
        self.run_id, self.metric, self.state = run_id, metric, state
        self.params = {"lr": 0.1}
        self.run_dir = None


def test_trial_records_come_from_mappings_and_objects() -> None:
    a = TrialRecord.coerce({"id": "a", "config": {"lr": 1}, "value": 2, "status": "FAILED", "url": "https://x/a"})
    assert (a.run_id, a.params, a.metric, a.state, a.link) == ("a", {"lr": 1}, 2.0, "failed", "https://x/a")
    b = TrialRecord.coerce(_TrialLike("b", float("nan")))
    assert (b.run_id, b.metric, b.params) == ("b", None, {"lr": 0.1})
    c = TrialRecord.coerce({"run_id": "c", "history": [0.5, 0.25]})
    assert c.history == [(0.0, 0.5), (1.0, 0.25)]
    with pytest.raises(ValueError, match="run_id"):
        TrialRecord.coerce({"metric": 1.0})


def test_best_trial_and_best_so_far_follow_the_goal() -> None:
    trials = [TrialRecord.coerce({"run_id": str(i), "metric": m}) for i, m in enumerate([3.0, None, 1.0, 2.0, 1.0])]
    assert best_index(trials, maximize=False) == 2  # the first of equal values
    assert best_index(trials, maximize=True) == 0
    assert best_so_far(trials, maximize=False) == [(1.0, 3.0), (3.0, 1.0), (4.0, 1.0), (5.0, 1.0)]
    assert best_so_far(trials, maximize=True) == [(1.0, 3.0), (3.0, 3.0), (4.0, 3.0), (5.0, 3.0)]
    assert best_index([TrialRecord("x")], maximize=False) is None


def test_sweep_table_marks_the_best_row_and_rejects_a_direction_that_is_not_a_bool() -> None:
    trials = [
        {"run_id": "r1", "params": {"lr": 0.1}, "metric": 0.5},
        {"run_id": "r2", "params": {"lr": 0.01, "depth": 3}, "metric": 0.2},
        {"run_id": "r3", "params": {"lr": 0.001}, "state": "failed"},
    ]
    html = render_sweep(trials, "loss", maximize=False, sweep_id="sw", runs_url="https://w.example/e/p", charts=False)
    assert html.count('data-best="true"') == 1
    assert 'class="fwb-best" data-run-id="r2" data-best="true"' in html
    assert 'href="https://w.example/e/p/runs/r3"' in html
    assert "<th>depth</th>" in html and "—" in html
    assert "flyteplugins-wandb[report]" in html  # charts=False: the install hint instead
    # A goal word where the direction belongs would read as maximize=True: refused instead.
    with pytest.raises(TypeError, match="maximize must be True or False, got 'minimize'"):
        render_sweep(trials, "loss", maximize="minimize")  # type: ignore[arg-type]


def test_values_are_escaped_and_only_http_links_are_links() -> None:
    view = RunView(
        run_id="<b>id</b>",
        url="javascript:alert(1)",
        summary={"<script>": "<img src=x onerror=alert(1)>"},
        config={"note": "a & b"},
    )
    html = render_run(view, charts=False)
    assert "<script>" not in html and "<img" not in html and "<b>id" not in html
    assert "href=" not in html
    assert "a &amp; b" in html
    sweep = render_sweep(
        [{"run_id": "x", "link": "javascript:alert(1)", "params": {"p": "<i>"}}], "m", maximize=True, charts=False
    )
    assert "href=" not in sweep and "<i>" not in sweep


def test_run_view_without_metrics_says_so() -> None:
    html = render_run(RunView(run_id="abc", state="failed", notes=["The task failed: boom"]), charts=False)
    assert 'data-run-id="abc"' in html and "fwb-state-failed" in html
    assert "Nothing logged." in html and "The task failed: boom" in html


def test_charts_render_one_inline_svg_per_metric() -> None:
    pytest.importorskip("matplotlib", reason="charts need the 'report' extra (matplotlib)")
    view = RunView(run_id="abc", series={"loss": [(float(i), 1 / (i + 1)) for i in range(1000)], "acc": [(0.0, 1.0)]})
    html = render_runs([view])
    assert html.count('<figure class="fwb-chart"') == 2
    assert html.count("<svg") == 2 and "<?xml" not in html and "<metadata>" not in html
    assert 'data-metric="loss"' in html and "1000 points" in html
    assert "http://" not in html.replace("http://www.w3.org", "")  # nothing to fetch
    assert len(html) < 40_000  # a 1,000-step chart is downsampled


def test_importing_the_package_loads_neither_the_report_nor_matplotlib() -> None:
    code = (
        "import sys, flyteplugins.wandb_core; "
        "print(sorted(m for m in sys.modules"
        " if m.startswith(('matplotlib', 'flyteplugins.wandb_core._report'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_an_offline_run_kept_in_storage_points_there_not_at_the_pods_disk() -> None:
    stored = "s3://b/wandb-offline/r1/a0/0/offline-run-20260101_000000-r1-a0"
    view = RunView(
        run_id="r1-a0",
        offline=True,
        sync_dir="/pod/wandb/offline-run-20260101_000000-r1-a0",
        stored=stored,
        sync_hint="flyte wandb sync r1 --store s3://b",
    )
    html = render_run(view, charts=False)
    assert "<th>mode</th><td>offline</td>" in html
    assert f"<th>kept in</th><td><code>{stored}</code></td>" in html
    assert "<code>flyte wandb sync r1 --store s3://b</code>" in html
    assert "/pod/wandb" not in html
    # Local mode (nothing stored): the local folder and wandb sync, as before.
    local = render_run(RunView(run_id="x", offline=True, sync_dir="/home/me/wandb/offline-run-x"), charts=False)
    assert "<code>wandb sync /home/me/wandb/offline-run-x</code>" in local and "kept in" not in local
