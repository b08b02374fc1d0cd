"""Wall time of a tracked task vs the same task calling wandb.init / finish by hand.

    uv run python benchmarks/bench_overhead.py [--runs 15] [--steps 200]

Both variants run in Flyte local mode, offline, in one process, alternating so that machine noise
hits both equally. Target: ratio (plugin / by hand) <= 1.05, the median of per-pair ratios [min, max].
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("WANDB_CONSOLE", "off")

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import flyte
from _stats import ratios, spread, verdict

from flyteplugins.wandb import get_wandb_run, wandb_init

env = flyte.TaskEnvironment(name="bench_overhead")
STEPS = 200


@wandb_init(project="bench")
@env.task
async def tracked(i: int) -> float:
    run = get_wandb_run()
    for s in range(STEPS):
        run.log({"loss": 1.0 / (s + 1), "i": i})
    return 0.0


@env.task
async def by_hand(i: int) -> float:
    import wandb

    ctx = flyte.ctx()
    run = wandb.init(project="bench", id=f"{ctx.action.run_name}-{ctx.action.name}", reinit="create_new")
    try:
        for s in range(STEPS):
            run.log({"loss": 1.0 / (s + 1), "i": i})
    finally:
        run.finish()
    return 0.0


def timed(task, i: int) -> float:
    t = time.perf_counter()
    flyte.with_runcontext(mode="local", name=f"b{i}-{task.short_name}").run(task, i)
    return time.perf_counter() - t


def main() -> None:
    global STEPS
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    STEPS = args.steps
    os.chdir(tempfile.mkdtemp(prefix="bench-overhead-"))
    flyte.init()
    timed(by_hand, -1)  # start wandb's service once, outside the measurement
    timed(tracked, -2)
    hand, plugin = [], []
    for i in range(args.runs):
        if i % 2:
            hand.append(timed(by_hand, i))
            plugin.append(timed(tracked, i))
        else:
            plugin.append(timed(tracked, i))
            hand.append(timed(by_hand, i))
    h, p = statistics.median(hand), statistics.median(plugin)
    print(f"by hand (wandb.init/finish)  median {h * 1000:8.1f} ms over {args.runs} runs")
    print(f"@wandb_init                  median {p * 1000:8.1f} ms over {args.runs} runs")
    rs = ratios(plugin, hand)  # each pair ran back to back
    print(f"ratio plugin / by hand: {spread(rs, '{:.3f}')} {verdict(statistics.median(rs), 1.05)}")


if __name__ == "__main__":
    main()
