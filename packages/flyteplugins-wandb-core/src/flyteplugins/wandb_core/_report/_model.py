"""What a report shows: plain records, independent of wandb, flyte and matplotlib."""

from __future__ import annotations

import itertools
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
    """An artifact the run logged or used; ``version``/``url`` stay None until known (offline: at sync)."""

    name: str
    type: str
    use: Literal["logged", "used"]
    version: str | None = None
    url: str | None = None


@dataclass
class RunView:
    """One W&B run as the report shows it.

    ``state`` is ``finished``, ``failed``, ``running`` (still open in a parent task) or ``crashed``;
    ``role`` says why the run is in the report; ``series`` maps a metric to its ``(step, value)``
    points; ``stored`` is where an offline run's folder is kept in Flyte's storage and ``sync_hint``
    the command that uploads it from there.
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
    """Numeric user metrics of ``history`` rows as ``(step, value)`` lists, plus the names left uncharted.

    ``_``-prefixed keys and ``system/`` metrics are skipped; x is ``_step``, or the row index.
    """
    series: dict[str, list[Point]] = {}
    dropped: dict[str, None] = {}
    for index, row in enumerate(history):
        step = finite(row.get("_step"))
        x = float(index) if step is None else step
        for key, value in row.items():
            y = finite(value)
            if y is None or key.startswith(("_", "system/")):
                continue
            if key in series or len(series) < max_metrics:
                series.setdefault(key, []).append((x, y))
            else:
                dropped[key] = None
    return series, list(dropped)


def user_items(values: Mapping[str, Any]) -> dict[str, Any]:
    """Summary/config entries a person logged (no ``_``-prefixed bookkeeping)."""
    return {k: v for k, v in values.items() if not str(k).startswith("_")}


@dataclass
class TrialRecord:
    """One sweep trial as the sweep report shows it.

    ``metric`` is the trial's value of the sweep metric (None when it logged none or failed);
    ``history`` its optional ``(step, value)`` points for the per-step chart, which `report_sweep()`
    reads from the run's log in ``run_dir`` when not given.
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
            values = (item.get(n) if isinstance(item, Mapping) else getattr(item, n, None) for n in names)
            return next((v for v in values if v is not None), None)

        run_id = get("run_id", "id")
        if run_id is None:
            raise ValueError(f"trial record {item!r} has no 'run_id'.")
        params = get("params", "parameters", "config") or {}
        history = get("history")
        points: list[Point] | None = None
        if history is not None:
            pairs = (p if isinstance(p, (tuple, list)) and len(p) == 2 else (i, p) for i, p in enumerate(history))
            finite_pairs = ((finite(x), finite(y)) for x, y in pairs)
            points = [(x, y) for x, y in finite_pairs if x is not None and y is not None]
        state = get("state", "status")
        return cls(
            run_id=str(run_id),
            params=dict(params) if isinstance(params, Mapping) else {"params": params},
            metric=finite(get("metric", "value", "metric_value")),
            state=str(getattr(state, "value", state) or "finished").lower(),
            link=get("link", "url"),
            history=points,
            name=str(get("name") or ""),
            run_dir=get("run_dir"),
        )


def best_index(trials: Sequence[TrialRecord], maximize: bool) -> int | None:
    """Index of the trial with the highest metric if ``maximize``, else the lowest (the first on ties);
    None when none has a metric."""
    scored = [(t.metric, i) for i, t in enumerate(trials) if t.metric is not None and math.isfinite(t.metric)]
    if not scored:
        return None
    return (max if maximize else min)(scored, key=lambda s: s[0])[1]


def best_so_far(trials: Sequence[TrialRecord], maximize: bool) -> list[Point]:
    """``(trial number, best metric up to it)`` for the trials that have a metric (numbers from 1)."""
    scored = [(float(i), t.metric) for i, t in enumerate(trials, start=1) if t.metric is not None]
    best = itertools.accumulate((m for _, m in scored), max if maximize else min)
    return [(x, b) for (x, _), b in zip(scored, best, strict=True)]
