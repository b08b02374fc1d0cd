"""Open the reports in headless Chromium: the page is not blank and every chart is really drawn.

The example ``examples/report.py`` runs as a user would run it and its report.html is loaded in Debian's
``chromium``. A copy of the page gets a small script that records each chart's box after layout
(read back with ``--dump-dom``); a screenshot of the same window size is then checked pixel by pixel:
the page as a whole is not blank and every chart box holds drawn, coloured line pixels. The checker
is itself tested on a page whose chart was removed and on an empty page, so it can fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
WIDTH = 1280


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


CHROMIUM = _chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed (apt-get install -y chromium): no headless browser for screenshots",
)
Image = pytest.importorskip("PIL.Image", reason="Pillow (installed with matplotlib, the 'report' extra) is missing")

_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--virtual-time-budget=5000",
)

# Records the box of every chart after layout, for --dump-dom to hand back.
_PROBE = """<script>
window.addEventListener("load", () => {
  const boxes = [...document.querySelectorAll("figure.fwb-chart")].map((f) => {
    const svg = f.querySelector("svg");
    const r = (svg || f).getBoundingClientRect();
    return {name: f.dataset.metric || f.dataset.chart, svg: !!svg,
            x: r.left, y: r.top, w: r.width, h: r.height};
  });
  const out = document.createElement("pre");
  out.id = "fwb-probe";
  out.textContent = JSON.stringify({boxes: boxes, height: document.documentElement.scrollHeight});
  document.body.appendChild(out);
});
</script>"""


@dataclass
class ChartCheck:
    name: str
    has_svg: bool
    box: tuple[int, int, int, int]
    coloured: int  # saturated pixels: the drawn lines and markers
    ink: float  # share of non-white pixels: axes, ticks, labels

    @property
    def drawn(self) -> bool:
        return self.has_svg and self.box[2] > 100 and self.box[3] > 60 and self.coloured >= 40 and self.ink > 0.01


@dataclass
class PageCheck:
    screenshot: Path
    charts: list[ChartCheck]
    page_ink: float
    page_colours: int

    @property
    def blank(self) -> bool:
        return self.page_ink < 0.005 or self.page_colours < 3


def _run_chromium(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        return subprocess.run(
            [CHROMIUM, *_FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=timeout
        )


def _saturated(pixel: tuple[int, ...]) -> bool:
    r, g, b = pixel[:3]
    return max(r, g, b) - min(r, g, b) > 60


def check_page(report: Path, workdir: Path) -> PageCheck:
    """Load ``report`` in Chromium, screenshot it, and measure the page and every chart box."""
    html = report.read_text()
    # Flyte's own page template links a web font; this machine has no network, so leave it out.
    html = re.sub(r"<link[^>]+fonts\.googleapis\.com[^>]*>", "", html)
    page = workdir / f"{report.stem}-probe.html"
    page.write_text(html.replace("</body>", _PROBE + "</body>", 1))
    url = page.as_uri()

    dom = _run_chromium("--dump-dom", f"--window-size={WIDTH},1000", url)
    m = re.search(r'<pre id="fwb-probe">(.*?)</pre>', dom.stdout, re.S)
    assert m, f"the probe did not run:\n{dom.stderr[-2000:]}"
    probe = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    height = min(max(int(probe["height"]) + 20, 600), 12000)

    shot = workdir / f"{report.stem}.png"
    _run_chromium(f"--screenshot={shot}", f"--window-size={WIDTH},{height}", url)
    assert shot.is_file(), "chromium wrote no screenshot"
    img = Image.open(shot).convert("RGB")
    pixels = img.load()

    def measure(x0: int, y0: int, x1: int, y1: int, step: int = 1) -> tuple[int, float, set]:
        coloured = inked = total = 0
        colours: set = set()
        for y in range(max(y0, 0), min(y1, img.height), step):
            for x in range(max(x0, 0), min(x1, img.width), step):
                p = pixels[x, y]
                total += 1
                if p != (255, 255, 255):
                    inked += 1
                    if len(colours) < 64:
                        colours.add(p)
                if _saturated(p):
                    coloured += 1
        return coloured, inked / max(total, 1), colours

    charts = []
    for b in probe["boxes"]:
        box = (int(b["x"]), int(b["y"]), int(b["w"]), int(b["h"]))
        coloured, ink, _ = measure(box[0], box[1], box[0] + box[2], box[1] + box[3])
        charts.append(ChartCheck(name=b["name"], has_svg=b["svg"], box=box, coloured=coloured, ink=ink))
    _, page_ink, colours = measure(0, 0, img.width, img.height, step=2)
    return PageCheck(screenshot=shot, charts=charts, page_ink=page_ink, page_colours=len(colours))


@pytest.fixture(scope="module")
def example_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run examples/report.py as a user would and return the report.html it wrote."""
    workdir = tmp_path_factory.mktemp("example")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(WANDB_SILENT="true", WANDB_DIR=str(workdir), WANDB_DISABLE_GIT="true", HOME=str(workdir))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "report.py")],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    paths = [
        Path(line.split("report: ", 1)[1].strip()) for line in proc.stdout.splitlines() if line.startswith("report: ")
    ]
    assert len(paths) == 1 and paths[0].is_file(), proc.stdout
    copy = workdir / "report.html"
    shutil.copy(paths[0], copy)
    shutil.rmtree(paths[0].parents[1], ignore_errors=True)  # the run's /tmp/flyte/metadata folder
    return copy


@needs_chromium
def test_example_report_renders_every_chart(example_report: Path, tmp_path: Path) -> None:
    check = check_page(example_report, tmp_path)
    assert not check.blank, f"blank page: {check}"
    names = sorted(c.name for c in check.charts)
    # train/loss, train/lr, epoch from the task's run, eval/accuracy from the evaluate() run.
    assert names == sorted(["train/loss", "train/lr", "epoch", "eval/accuracy"]), names
    missing = [c for c in check.charts if not c.drawn]
    assert not missing, f"charts not drawn: {missing} (see {check.screenshot})"


@needs_chromium
def test_sweep_report_renders_both_charts(tmp_path: Path) -> None:
    import math

    import flyte.report

    from flyteplugins.wandb_core._report import TAB_NAME, page, render_sweep

    trials = [
        {
            "run_id": f"trial-{i}",
            "params": {"lr": 10 ** -(1 + i % 3)},
            "metric": 0.2 + (i % 5) / 10,
            "history": [(s, 0.2 + (i % 5) / 10 + math.exp(-s / 40)) for s in range(200)],
        }
        for i in range(8)
    ]
    report = flyte.report.Report(name="sweep")
    report.get_tab(TAB_NAME).replace(page([render_sweep(trials, "loss", maximize=False, sweep_id="s1")]))
    path = tmp_path / "sweep.html"
    path.write_text(str(report.get_final_report()))
    check = check_page(path, tmp_path)
    assert not check.blank
    assert sorted(c.name for c in check.charts) == ["per-step", "per-trial"]
    assert all(c.drawn for c in check.charts), check.charts


@needs_chromium
def test_the_checker_fails_on_a_missing_chart_and_a_blank_page(example_report: Path, tmp_path: Path) -> None:
    html = example_report.read_text()
    # Remove the drawing of the first chart but keep its figure: the box is there, the chart is not.
    start = html.index('<figure class="fwb-chart"')
    svg_start = html.index("<svg", start)
    svg_end = html.index("</svg>", svg_start) + len("</svg>")
    broken = tmp_path / "broken.html"
    broken.write_text(html[:svg_start] + html[svg_end:])
    check = check_page(broken, tmp_path)
    assert not check.blank
    assert [c.drawn for c in check.charts].count(False) == 1

    empty = tmp_path / "empty.html"
    empty.write_text("<!doctype html><html><body></body></html>")
    blank = check_page(empty, tmp_path)
    assert blank.blank and blank.charts == []
