"""Line charts as inline SVG, drawn with matplotlib (the optional ``report`` extra).

matplotlib is imported on the first chart only, so neither ``import flyteplugins.wandb`` nor a task
without a report pays for it. The object-oriented API (``Figure``) is used instead of ``pyplot`` so no
GUI backend or global figure registry is touched; a lock serialises rendering because matplotlib's
text and font caches are not documented as thread-safe and sync Flyte tasks run in threads.
"""

from __future__ import annotations

import io
import math
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

Point = tuple[float, float]

# Long histories are reduced to about this many points per line before drawing: a 1,000-step metric
# becomes a ~10 KB SVG path while spikes survive (each bucket keeps its minimum and maximum).
MAX_POINTS = 240
# Lines in a chart with many series (a sweep's trials) get fewer points each.
MAX_POINTS_OVERLAY = 120

PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
BEST_COLOR = "#d62728"
MAIN_COLOR = "#1f77b4"

_lock = threading.Lock()
# Small, plain charts: matplotlib's settings for every chart of the tab, applied per chart only.
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
_XML_PROLOG = re.compile(r"^.*?(?=<svg\b)", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)


class ChartsUnavailable(ImportError):
    """matplotlib is not installed: the report shows tables and a one-line install hint."""


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def downsample(points: Sequence[Point], max_points: int = MAX_POINTS) -> list[Point]:
    """At most ``max_points`` points, in order: first, last, and each bucket's min and max value."""
    n = len(points)
    if n <= max_points or max_points < 4:
        return list(points)
    buckets = (max_points - 2) // 2
    out: list[Point] = [points[0]]
    width = (n - 2) / buckets
    for b in range(buckets):
        lo = 1 + int(b * width)
        hi = 1 + int((b + 1) * width)
        if hi <= lo:
            continue
        chunk = points[lo:hi]
        low = min(chunk, key=lambda p: p[1])
        high = max(chunk, key=lambda p: p[1])
        if low is high:
            out.append(low)
        else:
            out.extend(sorted((low, high), key=lambda p: p[0]))
    out.append(points[-1])
    return out


@dataclass
class Line:
    """One line of a chart."""

    points: Sequence[Point]
    label: str = ""
    color: str | None = None
    width: float = 1.4
    marker: str | None = None
    style: str = "-"
    alpha: float = 1.0
    zorder: float = 2.0


@dataclass
class Marker:
    """A single highlighted point (the best trial)."""

    point: Point
    label: str
    color: str = BEST_COLOR


def line_chart(
    lines: Sequence[Line],
    *,
    title: str,
    xlabel: str = "step",
    ylabel: str = "",
    markers: Sequence[Marker] = (),
    legend: bool = False,
    size: tuple[float, float] = (4.2, 2.5),
    max_points: int = MAX_POINTS,
) -> str:
    """An ``<svg>`` element (no XML prolog) drawing ``lines``; text stays text, so it is searchable.

    Raises:
        ChartsUnavailable: matplotlib is not installed.
    """
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ChartsUnavailable(str(exc)) from exc

    with _lock, matplotlib.rc_context(_RC):  # type: ignore[arg-type,unused-ignore]  # keys are literals; untyped without matplotlib
        fig = Figure(figsize=size)
        ax = fig.add_subplot()
        _draw(ax, lines, markers, max_points)
        ax.set_title(_clip(title, 60))
        ax.set_xlabel(xlabel)
        if ylabel:
            ax.set_ylabel(_clip(ylabel, 30))
        if _all_integral(lines):
            from matplotlib.ticker import MaxNLocator

            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if legend:
            ax.legend(loc="best", fontsize=7, frameon=False)
        # Fixed margins instead of tight_layout(), which measures every label twice and doubles the
        # cost of a chart; these fit tick labels such as 0.00012 or 1.5e+06 at this size.
        fig.subplots_adjust(left=0.17, right=0.97, top=0.88, bottom=0.19)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    svg = _METADATA.sub("", _XML_PROLOG.sub("", buf.getvalue(), count=1), count=1)
    return svg.strip()


def _draw(ax: Any, lines: Sequence[Line], markers: Sequence[Marker], max_points: int) -> None:
    """Plot each line (downsampled to ``max_points``) and the highlighted points on ``ax``."""
    for i, line in enumerate(lines):
        pts = downsample(line.points, max_points)
        if not pts:
            continue
        style: dict[str, Any] = {}
        if line.marker:
            style.update(marker=line.marker, markersize=3.5)
        ax.plot(
            [p[0] for p in pts],
            [p[1] for p in pts],
            line.style,
            color=line.color or PALETTE[i % len(PALETTE)],
            linewidth=line.width,
            label=line.label or None,
            alpha=line.alpha,
            zorder=line.zorder,
            **style,
        )
    for m in markers:
        ax.plot([m.point[0]], [m.point[1]], "*", color=m.color, markersize=11, zorder=5, label=m.label)


def _all_integral(lines: Sequence[Line]) -> bool:
    return all(float(p[0]).is_integer() for line in lines for p in line.points[:50])


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def finite(value: object) -> float | None:
    """``value`` as a finite float, or None for bools, non-numbers, NaN and infinities."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    f = float(value)
    return f if math.isfinite(f) else None
