"""Line charts as inline SVG, drawn with matplotlib (the optional ``report`` extra), imported on first use."""

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
MAX_POINTS_OVERLAY = 120  # per line of a chart with many lines (a sweep's trials)
BEST_COLOR = "#d62728"

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
_XML_PROLOG = re.compile(r"^.*?(?=<svg\b)", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)


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
    width = (n - 2) / buckets
    out: list[Point] = [points[0]]
    for b in range(buckets):
        chunk = points[1 + int(b * width) : 1 + int((b + 1) * width)]
        if chunk:
            low, high = min(chunk, key=lambda p: p[1]), max(chunk, key=lambda p: p[1])
            out.extend([low] if low is high else sorted((low, high), key=lambda p: p[0]))
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


def line_chart(
    lines: Sequence[Line],
    *,
    title: str,
    xlabel: str = "step",
    markers: Sequence[Marker] = (),
    legend: bool = False,
    max_points: int = MAX_POINTS,
) -> str:
    """An ``<svg>`` element (no XML prolog) drawing ``lines``; text stays text, so it is searchable.

    Raises:
        ImportError: matplotlib is not installed.
    """
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    # ``Figure`` touches no GUI backend or global figure registry; the lock is there because
    # matplotlib's text and font caches are not documented as thread-safe and sync tasks run in threads.
    with _lock, matplotlib.rc_context(_RC):  # type: ignore[arg-type,unused-ignore]  # keys are literals; untyped without matplotlib
        fig = Figure(figsize=(4.2, 2.5))
        ax = fig.add_subplot()
        for i, line in enumerate(lines):
            pts = downsample(line.points, max_points)
            style: dict[str, Any] = {"marker": line.marker, "markersize": 3.5} if line.marker else {}
            ax.plot(
                [p[0] for p in pts],
                [p[1] for p in pts],
                line.style,
                color=line.color or color(i),
                linewidth=line.width,
                label=line.label or None,
                alpha=line.alpha,
                zorder=line.zorder,
                **style,
            )
        for m in markers:
            ax.plot([m.point[0]], [m.point[1]], "*", color=BEST_COLOR, markersize=11, zorder=5, label=m.label)
        ax.set_title(clip(title, 60))
        ax.set_xlabel(xlabel)
        if all(float(p[0]).is_integer() for line in lines for p in line.points[:50]):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if legend:
            ax.legend(loc="best", fontsize=7, frameon=False)
        # Fixed margins instead of tight_layout(), which measures every label twice and doubles the
        # cost of a chart; these fit tick labels such as 0.00012 or 1.5e+06 at this size.
        fig.subplots_adjust(left=0.17, right=0.97, top=0.88, bottom=0.19)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    return _METADATA.sub("", _XML_PROLOG.sub("", buf.getvalue(), count=1), count=1).strip()


def color(index: int) -> str:
    """The ``index``-th color of matplotlib's default cycle (tab10)."""
    return f"C{index % 10}"


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def finite(value: object) -> float | None:
    """``value`` as a finite float, or None for bools, non-numbers, NaN and infinities."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    f = float(value)
    return f if math.isfinite(f) else None
