"""CPU per call of a hot ``wandb.log`` / ``run.log`` loop inside a tracked task vs wandb opened by hand.

    uv run python benchmarks/bench_module_api.py [--rounds 5] [--calls 10000]

While tracked runs are open, wandb's module API is routed to the calling task's run (one contextvar
read per access, no lock, no stack walk). This measures what that costs the calling thread: the same
Flyte task (local mode, offline) logs ``--calls`` rows through ``wandb.log`` and through the run's own
``log``, once with ``@wandb_init`` and once with a plain ``wandb.init``/``finish`` by hand. Figures are
``time.thread_time()`` of the loop divided by the calls, in interleaved rounds; the ratio is the median
of the per-round ratios [min, max]. Target: ratio <= 1.0 within noise (about +-20% on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("WANDB_CONSOLE", "off")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import flyte
import wandb
from _stats import ratios, spread, verdict

from flyteplugins.wandb import get_wandb_run, wandb_init

env = flyte.TaskEnvironment(name="bench_module_api")
CALLS = 10_000


def _loop(via_module: bool) -> float:
    """Thread CPU seconds per call of CALLS log calls."""
    log = None if via_module else (get_wandb_run() or wandb.run).log
    start = time.thread_time()
    for i in range(CALLS):
        if via_module:
            wandb.log({"loss": 1.0 / (i + 1)})
        else:
            log({"loss": 1.0 / (i + 1)})  # type: ignore[misc]
    return (time.thread_time() - start) / CALLS


@wandb_init(project="bench")
@env.task
def tracked(via_module: bool) -> float:
    return _loop(via_module)


@env.task
def by_hand(via_module: bool) -> float:
    ctx = flyte.ctx()
    run = wandb.init(project="bench", id=f"{ctx.action.run_name}-{ctx.action.name}")
    try:
        return _loop(via_module)
    finally:
        run.finish()


def _once(task, via_module: bool, name: str) -> float:
    return flyte.with_runcontext(mode="local", name=name).run(task, via_module).outputs()[0]


def main() -> None:
    global CALLS
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=CALLS)
    args = parser.parse_args()
    CALLS = args.calls
    os.chdir(tempfile.mkdtemp(prefix="bench-module-api-"))
    flyte.init()
    _once(by_hand, True, "warm-hand")
    _once(tracked, True, "warm-tracked")
    for via_module, label in ((True, "wandb.log"), (False, "run.log")):
        hand, ours = [], []
        for r in range(args.rounds):
            pair = [(by_hand, hand), (tracked, ours)]
            for task, out in pair if r % 2 else reversed(pair):
                out.append(_once(task, via_module, f"{label}-{task.short_name}-{r}"))
        print(f"{label:10} by hand  {spread([h * 1e6 for h in hand], '{:.1f}')} us/call")
        print(f"{label:10} tracked  {spread([o * 1e6 for o in ours], '{:.1f}')} us/call")
        rs = ratios(ours, hand)
        met = verdict(statistics.median(rs), 1.0)
        print(f"{label:10} ratio tracked / by hand: {spread(rs, '{:.3f}')} {met}")


if __name__ == "__main__":
    main()
