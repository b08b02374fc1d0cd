"""Size (and build time) of the "Weights & Biases" report tab.

    uv run python benchmarks/bench_report_size.py [--trials 20] [--steps 1000] [--metrics 5] [--repeat 3]

1. Sweep tab for ``--trials`` trials of ``--steps`` steps each (every trial's metric curve drawn),
   rendered into Flyte's real report page (``flyte.report.Report``). Budget: well under 1 MB.
2. Run tab of one real tracked task in Flyte local mode (offline wandb) logging ``--metrics`` metrics
   for ``--steps`` steps, read back from the report.html Flyte wrote.
3. Wall time of that task with ``report=True`` against the same task without a report, alternating
   in one process (the report is built once, when the task ends).

Ratios are printed against baselines measured in the same run: the 1 MB budget, the raw logged data
as JSON, and the task without a report.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("WANDB_CONSOLE", "off")

import flyte
import flyte.report

from flyteplugins.wandb import get_wandb_run, wandb_init
from flyteplugins.wandb_core._report import TAB_NAME, TrialRecord, page, render_sweep

BUDGET = 1_000_000
env = flyte.TaskEnvironment(name="bench_report")
STEPS = 1000
METRICS = 5


def _curve(seed: int, steps: int) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    floor = rng.uniform(0.05, 0.5)
    rate = rng.uniform(50, 400)
    return [(float(s), floor + math.exp(-s / rate) + rng.gauss(0, 0.02)) for s in range(steps)]


def sweep_page(trials: int, steps: int) -> tuple[str, int, float]:
    records = []
    raw = 0
    for i in range(trials):
        history = _curve(i, steps)
        raw += len(json.dumps([{"loss": y, "_step": x} for x, y in history]))
        records.append(
            TrialRecord(
                run_id=f"sweep-{i:02d}",
                params={"lr": 10 ** -(1 + i % 4), "batch": 2 ** (4 + i % 4), "dropout": 0.1},
                metric=history[-1][1],
                state="finished",
                link=f"https://wandb.ai/team/proj/runs/sweep-{i:02d}",
                history=history,
            )
        )
    t = time.perf_counter()
    tab = render_sweep(
        records, "loss", maximize=False, sweep_id="abcd1234", sweep_url="https://wandb.ai/team/proj/sweeps/abcd1234"
    )
    elapsed = time.perf_counter() - t
    report = flyte.report.Report(name="bench")
    report.get_tab(TAB_NAME).replace(page([tab]))
    html = report.get_final_report()
    assert isinstance(html, str)
    return html, raw, elapsed


def _log(steps: int, metrics: int) -> None:
    run = get_wandb_run()
    for s in range(steps):
        run.log({f"metric_{m}": math.sin(s / (50 + 10 * m)) + m for m in range(metrics)})


@wandb_init(project="bench-report")
@env.task(report=True)
def with_report(steps: int, metrics: int) -> None:
    _log(steps, metrics)


@wandb_init(project="bench-report")
@env.task
def without_report(steps: int, metrics: int) -> None:
    _log(steps, metrics)


def timed(task, steps: int, metrics: int) -> tuple[float, list[Path]]:
    name = f"bench-report-{uuid.uuid4().hex[:8]}"
    t = time.perf_counter()
    flyte.with_runcontext(mode="local", name=name).run(task, steps, metrics)
    elapsed = time.perf_counter() - t
    base = Path("/tmp/flyte/metadata") / name
    found = sorted(base.rglob("report.html"))
    return elapsed, [p for p in found] if found else []


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--metrics", type=int, default=METRICS)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    html, raw, render_s = sweep_page(args.trials, args.steps)
    size = len(html.encode())
    print(f"sweep tab, {args.trials} trials x {args.steps} steps:")
    print(f"  report.html {size / 1000:.1f} KB   render {render_s:.2f} s (includes the matplotlib import)")
    print(
        f"  ratio to the 1 MB budget: {size / BUDGET:.3f}   "
        f"ratio to the raw logged JSON ({raw / 1000:.0f} KB): {size / raw:.3f}"
    )

    workdir = tempfile.mkdtemp(prefix="bench-report-")
    os.chdir(workdir)
    os.environ["WANDB_DIR"] = workdir
    flyte.init()
    timed(without_report, 10, 1)  # warm up imports (wandb, matplotlib) outside the measurement
    timed(with_report, 10, 1)
    with_times, without_times, sizes = [], [], []
    for _ in range(args.repeat):
        t_without, _ = timed(without_report, args.steps, args.metrics)
        t_with, reports = timed(with_report, args.steps, args.metrics)
        without_times.append(t_without)
        with_times.append(t_with)
        sizes.extend(p.stat().st_size for p in reports)
        for p in reports:
            shutil.rmtree(p.parents[1], ignore_errors=True)
    print(f"run tab, 1 task x {args.metrics} metrics x {args.steps} steps (real local run, offline):")
    print(
        f"  report.html {statistics.median(sizes) / 1000:.1f} KB   ratio to the 1 MB budget: "
        f"{statistics.median(sizes) / BUDGET:.3f}"
    )
    med_with, med_without = statistics.median(with_times), statistics.median(without_times)
    print(
        f"  task wall time: report=True {med_with:.2f} s, without {med_without:.2f} s, "
        f"ratio {med_with / med_without:.2f} (median of {args.repeat})"
    )
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
