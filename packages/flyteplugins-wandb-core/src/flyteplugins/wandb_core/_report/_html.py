"""HTML of the "Weights & Biases" report tab: self-contained (inline CSS and SVG, no scripts, no fetches).

Flyte inserts a tab's HTML into its report page as is, so every value is escaped here and only http(s)
URLs become links.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

from . import _charts
from ._charts import Line, Marker, clip
from ._model import RunView, TrialRecord, best_index, best_so_far, user_items

INSTALL_HINT = "pip install 'flyteplugins-wandb[report]'"
MAX_ROWS = 200  # summary/config rows shown per run
MAX_VALUE_CHARS = 300
MAX_PARAM_COLUMNS = 20
SWEEP_HEADING = ("sweep_id", "sweep_url", "runs_url")

CSS = """<style>
.fwb{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;font-size:14px;color:#222}
.fwb h2{font-size:18px;margin:18px 0 6px}.fwb h3{font-size:15px;margin:14px 0 6px}
.fwb table{border-collapse:collapse;margin:4px 0 10px;font-size:13px}
.fwb th,.fwb td{border-bottom:1px solid #e3e3e3;padding:3px 10px 3px 0;text-align:left;vertical-align:top}
.fwb thead th{border-bottom:2px solid #ccc}.fwb td.num{text-align:right;font-variant-numeric:tabular-nums}
.fwb code{background:#f4f4f4;padding:1px 4px;border-radius:3px}
.fwb .fwb-state{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;color:#fff;
background:#888}
.fwb .fwb-state-finished{background:#2e7d32}.fwb .fwb-state-failed,.fwb .fwb-state-crashed{background:#c62828}
.fwb .fwb-state-running{background:#1565c0}.fwb .fwb-state-stopped{background:#ef6c00}
.fwb .fwb-run,.fwb .fwb-sweep{border:1px solid #e0e0e0;border-radius:6px;padding:4px 16px 10px;
margin:0 0 16px}
.fwb .fwb-charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:10px}
.fwb figure{margin:0;border:1px solid #eee;border-radius:4px;padding:4px}
.fwb figure svg{width:100%;height:auto;display:block}.fwb figcaption{font-size:12px;color:#555;padding:0 4px}
.fwb tr.fwb-best td{background:#fff6d5;font-weight:600}
.fwb .fwb-badge{color:#b26a00;font-weight:700;white-space:nowrap}.fwb .fwb-hint{color:#666;font-style:italic}
.fwb details summary{cursor:pointer;font-weight:600;margin:8px 0 4px}
#flyte-frame-tabs li{width:auto;min-width:126px;white-space:nowrap}
</style>"""
# The last rule reaches out of the tab on purpose: Flyte's report page gives every tab label a fixed
# 126px, narrower than "Weights & Biases" in its bold 14px font, so the label broke onto two lines.


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _code(value: Any) -> str:
    return f"<code>{esc(value)}</code>"


def _hint(text: str) -> str:
    return f'<p class="fwb-hint">{esc(text)}</p>'


def _num(value: Any) -> str:
    """The class of a table cell: numbers align right."""
    return "num" if _charts.finite(value) is not None else ""


def link(url: str | None, text: str) -> str:
    if url and url.startswith(("https://", "http://")):
        return f'<a href="{esc(url)}" target="_blank" rel="noopener noreferrer">{esc(text)}</a>'
    return esc(text)


def fmt(value: Any) -> str:
    """A summary/config value as short text."""
    if isinstance(value, float):
        text = f"{value:.6g}"
    elif isinstance(value, Mapping) and "_type" in value:
        text = f"<{value['_type']}>"  # media, tables, histograms: shown in the W&B UI only
    elif value is None or isinstance(value, (str, int)):
        text = str(value)
    else:
        try:
            text = json.dumps(value, default=str, sort_keys=True)
        except (TypeError, ValueError):
            text = repr(value)
    return clip(text, MAX_VALUE_CHARS)


def state_badge(state: str) -> str:
    return f'<span class="fwb-state fwb-state-{esc(state)}">{esc(state)}</span>'


def charts_hint() -> str:
    return f'<p class="fwb-hint fwb-no-charts">Charts need matplotlib: {_code(INSTALL_HINT)}</p>'


def _figure(svg: str, caption: str, attrs: str) -> str:
    return f'<figure class="fwb-chart" {attrs}>{svg}<figcaption>{esc(caption)}</figcaption></figure>'


def _kv_table(values: Mapping[str, Any], cls: str) -> str:
    items = list(values.items())
    rows = "".join(
        f'<tr data-key="{esc(k)}"><th>{esc(k)}</th><td class="{_num(v)}">{esc(fmt(v))}</td></tr>'
        for k, v in items[:MAX_ROWS]
    )
    more = _hint(f"{len(items) - MAX_ROWS} more not shown.") if len(items) > MAX_ROWS else ""
    return f'<table class="{cls}"><tbody>{rows}</tbody></table>{more}'


def _facts_table(facts: Mapping[str, str]) -> str:
    """Already-escaped HTML values under escaped labels; empty values are left out."""
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in facts.items() if v)
    return f'<table class="fwb-facts"><tbody>{rows}</tbody></table>'


def _artifacts_table(view: RunView) -> str:
    rows = []
    for a in view.artifacts:
        if a.version:
            where = link(a.url, a.version)
        elif view.offline:  # W&B numbers the versions when the run is uploaded
            where = "offline: kept in the run's folder, uploaded by <code>wandb sync</code>"
        else:
            where = "not committed when the task ended: see the run's artifacts in W&B"
        rows.append(
            f'<tr data-artifact="{esc(a.name)}"><td>{_code(a.name)}</td><td>{esc(a.type)}</td>'
            f"<td>{esc(a.use)}</td><td>{where}</td></tr>"
        )
    return (
        '<h3>Artifacts</h3><table class="fwb-artifacts"><thead><tr><th>artifact</th><th>type</th>'
        f"<th>use</th><th>version</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _run_facts(view: RunView) -> dict[str, str]:
    """Where the run is and how to reach it: role, link, project, entity, group, mode, upload."""
    facts = {
        "role": esc(view.role),
        "link": link(view.url, view.url) if view.url else "",
        "project": esc(view.project or "-"),
        "entity": esc(view.entity),
        "group": esc(view.group),
        "mode": "offline" if view.offline else "online",
    }
    if view.offline and view.stored:
        # On a cluster the pod's folder is gone with the pod: point at the copy in Flyte's storage.
        facts["kept in"] = _code(view.stored)
        facts["upload"] = _code(view.sync_hint) if view.sync_hint else ""
    elif view.offline and view.sync_dir:
        facts["upload"] = _code(f"wandb sync {view.sync_dir}")
    return facts


def _run_values(view: RunView) -> str:
    """The run's final summary and (folded) config, without wandb's bookkeeping keys."""
    summary, config = user_items(view.summary), user_items(view.config)
    shown = _kv_table(summary, "fwb-summary") if summary else _hint("Nothing logged.")
    if config:
        table = _kv_table(config, "fwb-config")
        shown += f"<details open><summary>Config ({len(config)})</summary>{table}</details>"
    return f"<h3>Summary</h3>{shown}"


def _run_metrics(view: RunView, charts: bool) -> str:
    """A chart per logged metric (or the install hint), and the names of metrics left uncharted."""
    if not view.series:
        return ""
    shown = charts_hint()
    if charts:
        figures = (
            _figure(
                _charts.line_chart([Line(points, marker="o" if len(points) < 3 else None)], title=name),
                f"{name}: {len(points)} points, last {fmt(points[-1][1])}, "
                f"min {fmt(min(p[1] for p in points))}, max {fmt(max(p[1] for p in points))}",
                f'data-metric="{esc(name)}"',
            )
            for name, points in view.series.items()
        )
        shown = f'<div class="fwb-charts">{"".join(figures)}</div>'
    if view.dropped_metrics:
        names = ", ".join(view.dropped_metrics[:50])
        shown += _hint(f"Not charted ({len(view.dropped_metrics)} more metrics): {names}")
    return f"<h3>Metrics over steps</h3>{shown}"


def render_run(view: RunView, *, charts: bool = True) -> str:
    """HTML of one run: identity, link, state, config, summary, and a chart per logged metric."""
    title = f" ({esc(view.name)})" if view.name and view.name != view.run_id else ""
    return (
        f'<section class="fwb-run" data-run-id="{esc(view.run_id)}">'
        f"<h2>Run {_code(view.run_id)}{title} {state_badge(view.state)}</h2>"
        f"{_facts_table(_run_facts(view))}{''.join(_hint(note) for note in view.notes)}"
        f"{_artifacts_table(view) if view.artifacts else ''}{_run_values(view)}{_run_metrics(view, charts)}"
        "</section>"
    )


def render_runs(views: Sequence[RunView]) -> str:
    """HTML of the runs section (several runs for ``run_mode="new"`` functions inside the task)."""
    charts = _charts.available()
    return "".join(render_run(v, charts=charts) for v in views)


def render_sweep(
    trials: Sequence[Any], metric: str | None, *, maximize: bool, charts: bool | None = None, **heading: str | None
) -> str:
    """HTML of a sweep: a table of trials with the best one marked, and charts of the metric.

    Arguments as `report_sweep()` takes them (``metric=None``: no best, no charts); ``charts`` defaults
    to whether matplotlib is installed. Raises TypeError for a ``maximize`` that is not a bool or an
    unknown ``heading`` keyword, ValueError for a trial without a run id.
    """
    unknown = sorted(set(heading) - set(SWEEP_HEADING))
    if unknown:
        raise TypeError(f"render_sweep() got unexpected keywords {unknown}; allowed: {SWEEP_HEADING}.")
    sweep_id, sweep_url, runs_url = (heading.get(k) for k in SWEEP_HEADING)
    if not isinstance(maximize, bool):
        raise TypeError(f"maximize must be True or False, got {maximize!r}.")
    records = [TrialRecord.coerce(t) for t in trials]
    for t in records:
        if not metric:
            t.metric, t.history = None, None
        if runs_url:
            t.link = t.link or f"{runs_url.rstrip('/')}/runs/{t.run_id}"
    metric = metric or "metric"
    best = best_index(records, maximize)
    if charts is None:
        charts = _charts.available()
    shown = ""
    if records:
        shown = (
            f'<div class="fwb-charts">{_sweep_charts(records, metric, maximize, best)}</div>'
            if charts
            else charts_hint()
        )
    direction = "maximize" if maximize else "minimize"  # as a sweep's ``metric.goal`` says it
    b = records[best] if best is not None else None
    facts = {
        "link": link(sweep_url, sweep_url) if sweep_url else "",
        "metric": f"{_code(metric)} ({direction})",
        "trials": str(len(records)),
        "best": f"{link(b.link, b.run_id)}: {esc(metric)} = {esc(fmt(b.metric))}" if b else "",
    }
    return (
        f'<section class="fwb-sweep" data-sweep-id="{esc(sweep_id or "")}" data-metric="{esc(metric)}">'
        f"<h2>Sweep{f' {_code(sweep_id)}' if sweep_id else ''}</h2>{_facts_table(facts)}{shown}"
        f"{_trials_table(records, metric, maximize, best)}</section>"
    )


def _trials_table(records: Sequence[TrialRecord], metric: str, maximize: bool, best: int | None) -> str:
    """One row per trial in launch order (the best one marked), a column per parameter."""
    names = list(dict.fromkeys(k for t in records for k in t.params if not str(k).startswith("_")))
    shown = names[:MAX_PARAM_COLUMNS]
    head = "".join(f"<th>{esc(p)}</th>" for p in shown)
    rows = []
    for i, t in enumerate(records):
        is_best = i == best
        cells = "".join(
            f'<td class="{_num(t.params.get(p))}">{esc(fmt(t.params[p])) if p in t.params else ""}</td>' for p in shown
        )
        cls, badge = (' class="fwb-best"', ' <span class="fwb-badge">★ best</span>') if is_best else ("", "")
        value = fmt(t.metric) if t.metric is not None else "—"
        rows.append(
            f'<tr{cls} data-run-id="{esc(t.run_id)}" data-best="{str(is_best).lower()}"><td>{i + 1}</td>'
            f"<td>{link(t.link, t.name or t.run_id)}{badge}</td><td>{state_badge(t.state)}</td>"
            f'<td class="num">{esc(value)}</td>{cells}</tr>'
        )
    more = _hint(f"{len(names) - len(shown)} more parameters not shown.") if len(names) > len(shown) else ""
    return (
        f'<table class="fwb-trials"><thead><tr><th>#</th><th>trial</th><th>state</th>'
        f"<th>{esc(metric)} {'↑' if maximize else '↓'}</th>{head}</tr></thead><tbody>{''.join(rows)}"
        f"</tbody></table>{more}"
    )


def _sweep_charts(records: Sequence[TrialRecord], metric: str, maximize: bool, best: int | None) -> str:
    figures = []
    per_trial = [(float(i), t.metric) for i, t in enumerate(records, start=1) if t.metric is not None]
    if per_trial:
        markers = [Marker((best + 1.0, records[best].metric or 0.0), "best trial")] if best is not None else []
        lines = [
            Line(per_trial, label=f"{metric} per trial", style="o", width=0),
            Line(best_so_far(records, maximize), label="best so far", color="#ff7f0e", width=1.6, zorder=3),
        ]
        direction = "maximize" if maximize else "minimize"
        svg = _charts.line_chart(
            lines, title=f"{metric} per trial ({direction})", xlabel="trial", markers=markers, legend=True
        )
        figures.append(_figure(svg, f"{metric} per trial and best so far", 'data-chart="per-trial"'))
    with_history = [(i, t) for i, t in enumerate(records) if t.history]
    if with_history:
        lines = [
            Line(t.history or [], label=f"best: {t.name or t.run_id}", color=_charts.BEST_COLOR, width=2.2, zorder=4)
            if i == best
            else Line(t.history or [], color=_charts.color(i), width=0.9, alpha=0.55)
            for i, t in with_history
        ]
        svg = _charts.line_chart(
            lines,
            title=f"{metric} over steps, {len(with_history)} trials",
            legend=any(i == best for i, _ in with_history),
            max_points=_charts.MAX_POINTS_OVERLAY,
        )
        figures.append(_figure(svg, f"{metric} over steps per trial", 'data-chart="per-step"'))
    return "".join(figures)


def page(sections: Sequence[str]) -> str:
    """The tab's full content: the shared stylesheet and the sections in order."""
    return f'<div class="fwb">{CSS}{"".join(sections)}</div>'
