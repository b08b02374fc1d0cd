"""The report tab's records and HTML (inline CSS and SVG, no scripts): Flyte inserts it as is, so values are escaped."""

from __future__ import annotations

import html
import io
import itertools
import json
import math
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Point = tuple[float, float]

MAX_CHARTS = 24  # more metrics are listed, not charted: hundreds of keys would make a report of several MB
MAX_POINTS = 240  # per line: a 1,000-step metric becomes a ~10 KB SVG path, spikes kept (`downsample`)
MAX_POINTS_OVERLAY = 120  # per line of a chart with many lines (a sweep's trials)
BEST_COLOR = "#d62728"
INSTALL_HINT = "pip install 'flyteplugins-wandb[report]'"
CHARTS_HINT = f'<p class="fwb-hint fwb-no-charts">Charts need matplotlib: <code>{html.escape(INSTALL_HINT)}</code></p>'
MAX_ROWS = 200  # summary/config rows shown per run
MAX_VALUE_CHARS = 300
MAX_PARAM_COLUMNS = 20

_lock = threading.Lock()
_RC: dict[str, Any] = {
    "svg.fonttype": "none",  # <text> instead of glyph outlines: several times smaller
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.5,
}
_SVG_EXTRAS = re.compile(r"^.*?(?=<svg\b)|<metadata>.*?</metadata>\s*", re.S)  # the XML prolog, matplotlib's metadata

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
# The last rule reaches out of the tab on purpose: Flyte's 126px tab labels broke "Weights & Biases" onto two lines.


@dataclass
class ArtifactView:
    name: str
    type: str
    use: Literal["logged", "used"]
    version: str | None = None  # and url: None until known (offline: at sync)
    url: str | None = None


@dataclass
class RunView:
    run_id: str
    name: str = ""
    project: str = ""
    entity: str = ""
    group: str = ""
    state: str = "finished"  # or failed, running (still open in a parent task), crashed
    offline: bool = False
    url: str | None = None
    role: str = ""  # why the run is in the report
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    series: dict[str, list[Point]] = field(default_factory=dict)
    dropped_metrics: list[str] = field(default_factory=list)
    sync_dir: str | None = None
    stored: str | None = None  # where an offline run's folder is kept in Flyte's storage
    sync_hint: str | None = None  # the command that uploads it from there
    notes: list[str] = field(default_factory=list)
    artifacts: list[ArtifactView] = field(default_factory=list)


@dataclass
class TrialRecord:
    """One sweep trial; `report_sweep()` reads a missing ``history`` from the run's log in ``run_dir``."""

    run_id: str
    params: dict[str, Any] = field(default_factory=dict)
    metric: float | None = None
    state: str = "finished"
    link: str | None = None
    history: list[Point] | None = None
    name: str = ""
    run_dir: str | None = None

    @classmethod
    def coerce(cls, item: Any) -> TrialRecord:
        """From a mapping or object with its fields, or id, parameters/config, value/metric_value, status, url."""
        if isinstance(item, cls):
            return item

        def get(*names: str) -> Any:
            values = (item.get(n) if isinstance(item, Mapping) else getattr(item, n, None) for n in names)
            return next((v for v in values if v is not None), None)

        run_id = get("run_id", "id")
        if run_id is None:
            raise ValueError(f"trial record {item!r} has no 'run_id'.")
        params = get("params", "parameters", "config") or {}
        history = get("history")
        pairs = (p if isinstance(p, (tuple, list)) and len(p) == 2 else (i, p) for i, p in enumerate(history or ()))
        points = [(x, y) for x, y in ((finite(a), finite(b)) for a, b in pairs) if x is not None and y is not None]
        state = get("state", "status")
        return cls(
            run_id=str(run_id),
            params=dict(params) if isinstance(params, Mapping) else {"params": params},
            metric=finite(get("metric", "value", "metric_value")),
            state=str(getattr(state, "value", state) or "finished").lower(),
            link=get("link", "url"),
            history=None if history is None else points,
            name=str(get("name") or ""),
            run_dir=get("run_dir"),
        )


def series_from_history(
    history: Sequence[Mapping[str, Any]], *, max_metrics: int = MAX_CHARTS
) -> tuple[dict[str, list[Point]], list[str]]:
    """Numeric user metrics (not ``_*``, ``system/*``) as ``(_step or row index, value)`` lists; the uncharted names."""
    series: dict[str, list[Point]] = {}
    dropped: dict[str, None] = {}
    for index, row in enumerate(history):
        x = float(index) if (step := finite(row.get("_step"))) is None else step
        for key, value in row.items():
            if (y := finite(value)) is None or key.startswith(("_", "system/")):
                continue
            if key in series or len(series) < max_metrics:
                series.setdefault(key, []).append((x, y))
            else:
                dropped[key] = None
    return series, list(dropped)


def best_index(trials: Sequence[TrialRecord], maximize: bool) -> int | None:
    """The trial with the highest (``maximize``) or lowest metric, the first on ties; None without metrics."""
    scored = [(t.metric, i) for i, t in enumerate(trials) if t.metric is not None and math.isfinite(t.metric)]
    return (max if maximize else min)(scored, key=lambda s: s[0])[1] if scored else None


def best_so_far(trials: Sequence[TrialRecord], maximize: bool) -> list[Point]:
    """``(trial number from 1, best metric up to it)`` for the trials that have a metric."""
    scored = [(float(i), t.metric) for i, t in enumerate(trials, start=1) if t.metric is not None]
    best = itertools.accumulate((m for _, m in scored), max if maximize else min)
    return [(x, b) for (x, _), b in zip(scored, best, strict=True)]


def finite(value: object) -> float | None:  # None for bools, non-numbers, NaN and infinities
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def charts_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def downsample(points: Sequence[Point], max_points: int = MAX_POINTS) -> list[Point]:
    """At most ``max_points`` points, in order: first, last, and each bucket's min and max value."""
    if len(points) <= max_points or max_points < 4:
        return list(points)
    buckets = (max_points - 2) // 2
    width = (len(points) - 2) / buckets
    out: list[Point] = [points[0]]
    for b in range(buckets):
        chunk = points[1 + int(b * width) : 1 + int((b + 1) * width)]
        if chunk:
            low, high = min(chunk, key=lambda p: p[1]), max(chunk, key=lambda p: p[1])
            out.extend([low] if low is high else sorted((low, high), key=lambda p: p[0]))
    out.append(points[-1])
    return out


def line_chart(
    lines: Sequence[tuple[Sequence[Point], dict[str, Any]]],
    *,
    title: str,
    xlabel: str = "step",
    best: Point | None = None,
    legend: bool = False,
    max_points: int = MAX_POINTS,
) -> str:
    """An ``<svg>`` element drawing ``lines`` (points, matplotlib plot keywords and "fmt"); ImportError without it."""
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    # ``Figure`` needs no GUI backend; the lock: matplotlib's font caches are not known thread-safe (sync tasks).
    with _lock, matplotlib.rc_context(_RC):  # type: ignore[arg-type,unused-ignore]  # keys are literals; untyped without matplotlib
        fig = Figure(figsize=(4.2, 2.5))
        ax = fig.add_subplot()
        for i, (points, style) in enumerate(lines):
            pts = downsample(points, max_points)
            kwargs = {"color": f"C{i % 10}", "linewidth": 1.4, "label": None, "alpha": 1.0, "zorder": 2.0, **style}
            ax.plot([p[0] for p in pts], [p[1] for p in pts], kwargs.pop("fmt", "-"), **kwargs)
        if best is not None:
            ax.plot([best[0]], [best[1]], "*", color=BEST_COLOR, markersize=11, zorder=5, label="best trial")
        ax.set(title=clip(title, 60), xlabel=xlabel)
        if all(float(p[0]).is_integer() for points, _ in lines for p in points[:50]):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if legend:
            ax.legend(loc="best", fontsize=7, frameon=False)
        # Fixed margins, fitting ticks such as 1.5e+06: tight_layout() measures each label twice (2x the cost).
        fig.subplots_adjust(left=0.17, right=0.97, top=0.88, bottom=0.19)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    return _SVG_EXTRAS.sub("", buf.getvalue(), count=2).strip()


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _code(value: Any) -> str:
    return f"<code>{esc(value)}</code>"


def _hint(text: str) -> str:
    return f'<p class="fwb-hint">{esc(text)}</p>'


def _num(value: Any) -> str:
    return "num" if finite(value) is not None else ""  # the class of a table cell: numbers align right


def link(url: str | None, text: str) -> str:
    if url and url.startswith(("https://", "http://")):
        return f'<a href="{esc(url)}" target="_blank" rel="noopener noreferrer">{esc(text)}</a>'
    return esc(text)


def fmt(value: Any) -> str:
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


def _facts_table(facts: Mapping[str, str]) -> str:  # values already escaped HTML, labels not; empty ones left out
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in facts.items() if v)
    return f'<table class="fwb-facts"><tbody>{rows}</tbody></table>'


def render_run(view: RunView, *, charts: bool = True) -> str:
    title = f" ({esc(view.name)})" if view.name and view.name != view.run_id else ""
    facts = {
        "role": esc(view.role),
        "link": link(view.url, view.url) if view.url else "",
        "project": esc(view.project or "-"),
        "entity": esc(view.entity),
        "group": esc(view.group),
        "mode": "offline" if view.offline else "online",
    }
    if view.offline and view.stored:  # on a cluster the pod's folder is gone with it: the copy in Flyte's storage
        facts["kept in"] = _code(view.stored)
        facts["upload"] = _code(view.sync_hint) if view.sync_hint else ""
    elif view.offline and view.sync_dir:
        facts["upload"] = _code(f"wandb sync {view.sync_dir}")
    if view.offline:  # an offline artifact has no version yet: W&B numbers them when the run is uploaded
        pending = "offline: kept in the run's folder, uploaded by <code>wandb sync</code>"
    else:
        pending = "not committed when the task ended: see the run's artifacts in W&B"
    rows = "".join(
        f'<tr data-artifact="{esc(a.name)}"><td>{_code(a.name)}</td><td>{esc(a.type)}</td>'
        f"<td>{esc(a.use)}</td><td>{link(a.url, a.version) if a.version else pending}</td></tr>"
        for a in view.artifacts
    )
    artifacts = (
        '<h3>Artifacts</h3><table class="fwb-artifacts"><thead><tr><th>artifact</th><th>type</th>'
        f"<th>use</th><th>version</th></tr></thead><tbody>{rows}</tbody></table>"
    )
    summary, config = ({k: v for k, v in d.items() if not str(k).startswith("_")} for d in (view.summary, view.config))
    values = _kv_table(summary, "fwb-summary") if summary else _hint("Nothing logged.")
    if config:
        values += f"<details open><summary>Config ({len(config)})</summary>{_kv_table(config, 'fwb-config')}</details>"
    return (
        f'<section class="fwb-run" data-run-id="{esc(view.run_id)}">'
        f"<h2>Run {_code(view.run_id)}{title} {state_badge(view.state)}</h2>"
        f"{_facts_table(facts)}{''.join(_hint(note) for note in view.notes)}"
        f"{artifacts if view.artifacts else ''}<h3>Summary</h3>{values}{_run_metrics(view, charts)}"
        "</section>"
    )


def _run_metrics(view: RunView, charts: bool) -> str:
    if not view.series:
        return ""
    shown = CHARTS_HINT
    if charts:
        figures = (
            _figure(
                line_chart([(points, {"marker": "o", "markersize": 3.5} if len(points) < 3 else {})], title=name),
                f"{name}: {len(points)} points, last {fmt(points[-1][1])}, "
                f"min {fmt(min(p[1] for p in points))}, max {fmt(max(p[1] for p in points))}",
                f'data-metric="{esc(name)}"',
            )
            for name, points in view.series.items()
        )
        shown = f'<div class="fwb-charts">{"".join(figures)}</div>'
    if view.dropped_metrics:
        shown += _hint(
            f"Not charted ({len(view.dropped_metrics)} more metrics): {', '.join(view.dropped_metrics[:50])}"
        )
    return f"<h3>Metrics over steps</h3>{shown}"


def render_runs(views: Sequence[RunView]) -> str:
    charts = charts_available()
    return "".join(render_run(v, charts=charts) for v in views)


def render_sweep(
    trials: Sequence[Any],
    metric: str | None,
    *,
    maximize: bool,
    charts: bool | None = None,
    sweep_id: str | None = None,
    sweep_url: str | None = None,
    runs_url: str | None = None,
) -> str:
    """A sweep's trials table and charts (arguments as `report_sweep()`); TypeError, ValueError for bad ones."""
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
    shown = CHARTS_HINT if records else ""
    if records and (charts_available() if charts is None else charts):
        shown = f'<div class="fwb-charts">{_sweep_charts(records, metric, maximize, best)}</div>'
    b = records[best] if best is not None else None
    facts = {
        "link": link(sweep_url, sweep_url) if sweep_url else "",
        "metric": f"{_code(metric)} ({'maximize' if maximize else 'minimize'})",  # as a sweep's metric.goal says it
        "trials": str(len(records)),
        "best": f"{link(b.link, b.run_id)}: {esc(metric)} = {esc(fmt(b.metric))}" if b else "",
    }
    return (
        f'<section class="fwb-sweep" data-sweep-id="{esc(sweep_id or "")}" data-metric="{esc(metric)}">'
        f"<h2>Sweep{f' {_code(sweep_id)}' if sweep_id else ''}</h2>{_facts_table(facts)}{shown}"
        f"{_trials_table(records, metric, maximize, best)}</section>"
    )


def _trials_table(records: Sequence[TrialRecord], metric: str, maximize: bool, best: int | None) -> str:
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
        rows.append(
            f'<tr{cls} data-run-id="{esc(t.run_id)}" data-best="{str(is_best).lower()}"><td>{i + 1}</td>'
            f"<td>{link(t.link, t.name or t.run_id)}{badge}</td><td>{state_badge(t.state)}</td>"
            f'<td class="num">{esc(fmt(t.metric) if t.metric is not None else "—")}</td>{cells}</tr>'
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
        dots = {"fmt": "o", "label": f"{metric} per trial", "linewidth": 0}
        running = {"label": "best so far", "color": "#ff7f0e", "linewidth": 1.6, "zorder": 3}
        svg = line_chart(
            [(per_trial, dots), (best_so_far(records, maximize), running)],
            title=f"{metric} per trial ({'maximize' if maximize else 'minimize'})",
            xlabel="trial",
            best=(best + 1.0, records[best].metric or 0.0) if best is not None else None,
            legend=True,
        )
        figures.append(_figure(svg, f"{metric} per trial and best so far", 'data-chart="per-trial"'))
    with_history = [(i, t) for i, t in enumerate(records) if t.history]
    if with_history:
        best_style = {"color": BEST_COLOR, "linewidth": 2.2, "zorder": 4}
        svg = line_chart(
            [
                (t.history or [], {"label": f"best: {t.name or t.run_id}", **best_style})
                if i == best
                else (t.history or [], {"color": f"C{i % 10}", "linewidth": 0.9, "alpha": 0.55})
                for i, t in with_history
            ],
            title=f"{metric} over steps, {len(with_history)} trials",
            legend=any(i == best for i, _ in with_history),
            max_points=MAX_POINTS_OVERLAY,
        )
        figures.append(_figure(svg, f"{metric} over steps per trial", 'data-chart="per-step"'))
    return "".join(figures)


def page(sections: Sequence[str]) -> str:
    return f'<div class="fwb">{CSS}{"".join(sections)}</div>'
