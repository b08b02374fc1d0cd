"""What a report shows: plain records, independent of wandb, flyte and matplotlib."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ._charts import Point, finite

# Metrics beyond this many are listed but not charted: a run logging hundreds of keys would otherwise
# produce a report of several MB.
MAX_CHARTS = 24


@dataclass
class ArtifactView:
    """An artifact the run logged or used through the plugin's helpers.

    ``version`` and ``url`` are None while unknown: an offline run's artifacts get them from the
    server only when the run is uploaded (``wandb sync``).
    """

    name: str
    type: str
    use: Literal["logged", "used"]
    version: str | None = None
    url: str | None = None


@dataclass
class RunView:
    """One W&B run as the report shows it.

    Attributes:
        run_id: W&B run id.
        state: ``finished``, ``failed``, ``running`` (still open, e.g. owned by a parent task) or
            ``crashed`` (no exit recorded).
        url: Link to the run in the W&B UI, or None when it cannot be known (offline, no entity).
        role: Why this run is in the report (``this task``, ``shared with parent task``, ...).
        series: Metric name -> ``(step, value)`` points logged in this process.
        sync_dir: Local run directory (for ``wandb sync`` of offline runs).
        stored: Where an offline run's folder is kept in the Flyte run's storage (on a cluster).
        sync_hint: The command that uploads it from there (``flyte wandb sync ...``).
        artifacts: Artifacts logged or used with the plugin's helpers, in call order.
    """

    run_id: str
    name: str = ""
    project: str = ""
    entity: str = ""
    group: str = ""
    state: str = "finished"
    offline: bool = False
    url: str | None = None
    role: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    series: dict[str, list[Point]] = field(default_factory=dict)
    dropped_metrics: list[str] = field(default_factory=list)
    sync_dir: str | None = None
    stored: str | None = None
    sync_hint: str | None = None
    notes: list[str] = field(default_factory=list)
    artifacts: list[ArtifactView] = field(default_factory=list)


def series_from_history(
    history: Sequence[Mapping[str, Any]], *, max_metrics: int = MAX_CHARTS
) -> tuple[dict[str, list[Point]], list[str]]:
    """Numeric metrics of ``history`` rows as ``(step, value)`` lists, plus the names left uncharted.

    Keys starting with ``_`` (``_step``, ``_runtime``, ``_timestamp``) and W&B system metrics are not
    user metrics. The x value is ``_step``, or the row index when a row has none.
    """
    series: dict[str, list[Point]] = {}
    dropped: dict[str, None] = {}
    for index, row in enumerate(history):
        step = finite(row.get("_step"))
        x = float(index) if step is None else step
        for key, value in row.items():
            if key.startswith(("_", "system/")):
                continue
            y = finite(value)
            if y is None:
                continue
            points = series.get(key)
            if points is None:
                if len(series) >= max_metrics:
                    dropped[key] = None
                    continue
                points = series[key] = []
            points.append((x, y))
    return series, list(dropped)


def user_items(values: Mapping[str, Any]) -> dict[str, Any]:
    """Summary/config entries a person logged (no ``_``-prefixed bookkeeping)."""
    return {k: v for k, v in values.items() if not str(k).startswith("_")}


@dataclass
class TrialRecord:
    """One sweep trial as the sweep report shows it.

    Attributes:
        run_id: The trial's W&B run id.
        params: The hyperparameters the sweep chose.
        metric: The trial's value of the sweep metric (None when it logged none or failed).
        state: ``finished``, ``failed``, ``running``, ...
        link: URL of the trial's run, or None.
        history: Optional ``(step, value)`` points of the sweep metric, for the per-step chart.
        name: Optional display name.
        run_dir: Local run directory; when ``history`` is not given, the metric's points are read
            from the run's log there (`report_sweep()` does this).
    """

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
        """A TrialRecord from itself, a mapping, or any object with matching attributes.

        Accepted spellings: ``run_id``/``id``, ``params``/``config``/``parameters``,
        ``metric``/``value``/``metric_value``, ``state``/``status``, ``link``/``url``.
        """
        if isinstance(item, cls):
            return item

        def get(*names: str) -> Any:
            for n in names:
                value = item.get(n) if isinstance(item, Mapping) else getattr(item, n, None)
                if value is not None:
                    return value
            return None

        run_id = get("run_id", "id")
        if run_id is None:
            raise ValueError(f"trial record {item!r} has no 'run_id'.")
        params = get("params", "parameters", "config") or {}
        metric = get("metric", "value", "metric_value")
        history = get("history")
        points: list[Point] | None = None
        if history is not None:
            points = []
            for i, p in enumerate(history):
                x, y = p if isinstance(p, (tuple, list)) and len(p) == 2 else (i, p)
                fx, fy = finite(x), finite(y)
                if fx is not None and fy is not None:
                    points.append((fx, fy))
        state = get("state", "status")
        return cls(
            run_id=str(run_id),
            params=dict(params) if isinstance(params, Mapping) else {"params": params},
            metric=finite(metric),
            state=str(getattr(state, "value", state) or "finished").lower(),
            link=get("link", "url"),
            history=points,
            name=str(get("name") or ""),
            run_dir=get("run_dir"),
        )


def best_index(trials: Sequence[TrialRecord], maximize: bool) -> int | None:
    """Index of the best trial (the highest metric if ``maximize``, else the lowest; the first one on
    ties), or None when none has a metric."""
    best: int | None = None
    for i, t in enumerate(trials):
        if t.metric is None or not math.isfinite(t.metric):
            continue
        if best is None:
            best = i
            continue
        current = trials[best].metric
        assert current is not None
        if (t.metric > current) if maximize else (t.metric < current):
            best = i
    return best


def best_so_far(trials: Sequence[TrialRecord], maximize: bool) -> list[Point]:
    """``(trial number, best metric up to it)`` for the trials that have a metric (numbers from 1)."""
    out: list[Point] = []
    best: float | None = None
    for i, t in enumerate(trials, start=1):
        if t.metric is None:
            continue
        if best is None or (t.metric > best if maximize else t.metric < best):
            best = t.metric
        out.append((float(i), best))
    return out
