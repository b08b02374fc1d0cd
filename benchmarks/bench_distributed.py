"""Cost of W&B tracking on a real torchrun job (2 nodes × 2 processes on localhost), auto/global mode.

Runs the same job (gloo all_reduce, then a Flyte task in local mode per worker, logging a few steps on
the ranks that log) with ``@wandb_init`` and without it, alternating, and prints:

- the job's wall time with tracking / without (ratio of medians), and the same for the time each
  rank spends in its Flyte run (the part tracking can slow down, without process start-up);
- how many wandb service processes the job started, which must equal the number of logging ranks
  (1 in auto/global): the other ranks must not start one.

Needs torch and flyteplugins-pytorch (see integration-tests/distributed/README.md)::

    .venv-torch/bin/python benchmarks/bench_distributed.py [--repeats 3]

Exits non-zero when the number of wandb processes is wrong (timings are reported, never asserted).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration-tests" / "distributed"))

from torchrun_job import Job, run_job

MODE = "auto/global"
LOGGING_RANKS = 1  # auto/global: global rank 0 only


def _task_time(job: Job) -> float:
    return max(report["timings"][MODE] for report in job.reports.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()

    walls: dict[bool, list[float]] = {True: [], False: []}
    task_times: dict[bool, list[float]] = {True: [], False: []}
    processes: dict[bool, list[int]] = {True: [], False: []}
    with tempfile.TemporaryDirectory(prefix="bench-dist-") as tmp:
        for i in range(args.repeats):
            for tracked in (False, True):  # alternate so machine load drifts hit both alike
                workdir = Path(tmp) / f"{'tracked' if tracked else 'plain'}-{i}"
                extra = ("--steps", str(args.steps)) + (() if tracked else ("--no-track",))
                job = run_job(workdir, MODE, prefix=f"bench{i}", worker_args=extra)
                if job.returncodes != [0, 0] or len(job.reports) != 4:
                    print(job.log_tail(), file=sys.stderr)
                    print("torchrun job failed", file=sys.stderr)
                    return 2
                walls[tracked].append(job.wall)
                task_times[tracked].append(_task_time(job))
                processes[tracked].append(sum(r["wandb_processes"] for r in job.reports.values()))
                print(
                    f"run {i} {'tracked' if tracked else 'plain  '}: job {job.wall:6.2f} s, "
                    f"slowest rank's Flyte run {task_times[tracked][-1]:5.2f} s, "
                    f"wandb processes {processes[tracked][-1]}",
                    flush=True,
                )

    wall_t, wall_p = statistics.median(walls[True]), statistics.median(walls[False])
    task_t, task_p = statistics.median(task_times[True]), statistics.median(task_times[False])
    print()
    print(f"torchrun 2x2 job, {MODE}, {args.repeats} repeats, medians:")
    print(f"  job wall time        tracked {wall_t:6.2f} s  plain {wall_p:6.2f} s  ratio {wall_t / wall_p:.2f}")
    print(f"  slowest Flyte run    tracked {task_t:6.2f} s  plain {task_p:6.2f} s  ratio {task_t / task_p:.2f}")
    print(
        f"  wandb processes      tracked {processes[True]}  plain {processes[False]}  (logging ranks: {LOGGING_RANKS})"
    )
    ok = all(n == LOGGING_RANKS for n in processes[True]) and not any(processes[False])
    print("  wandb processes == logging ranks:", "yes" if ok else "NO")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
