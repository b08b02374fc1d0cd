"""Import cost of `flyteplugins.wandb` (and the first use of a download helper) against `import flyte`.

    uv run python benchmarks/bench_import.py [--rounds 15]

Each statement runs in a fresh interpreter; the figure is the wall time of the statement. Every
round times all statements back to back in a rotating order, and each ratio is taken within a round
(so machine load drifts hit both sides alike); printed as median [min, max] over the rounds.

The plugin imports flyte but must not import wandb (loaded when the first tracked task runs), nor
flyte.io (loaded when a download helper is first called).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stats import ratios, spread, verdict

STATEMENTS = {
    "flyte": "import flyte",
    "wandb": "import wandb",
    "plugin": "import flyteplugins.wandb",
    "plugin (full public API)": (
        "from flyteplugins.wandb import wandb_init, wandb_config, get_wandb_run, get_wandb_run_dir, "
        "get_wandb_context, Wandb, RunMode, RankScope"
    ),
    "download helper (first use)": ("from flyteplugins.wandb import download_wandb_run_dir, download_wandb_run_logs"),
}
# (statement, baseline, target ratio)
TARGETS = (
    ("plugin", "flyte", 1.05),
    ("plugin (full public API)", "flyte", 1.05),
    ("download helper (first use)", "flyte", 1.3),
)
CHECK = (
    "import sys; {statement}; assert 'wandb' not in sys.modules, 'imports wandb'; "
    "assert 'flyte.io' not in sys.modules, 'imports flyte.io'"
)


# Installed packages import from compiled bytecode (pip writes it at install, or Python on first
# import). Where PYTHONDONTWRITEBYTECODE is set (CI, containers), a workspace's editable sources
# would be compiled again in every interpreter while flyte's wheel brings its .pyc files: the ratio
# would measure the compiler. Every statement runs with one bytecode cache of its own (outside the
# source tree), written by the warm-up round, so both sides load bytecode as an installed user does.
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
CHILD_ENV["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="bench-import-pycache-")


def time_import(statement: str) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=CHILD_ENV)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", "--repeat", type=int, default=15)
    args = parser.parse_args()
    labels = list(STATEMENTS)
    for label in labels:
        time_import(STATEMENTS[label])  # warm the OS file cache and write the bytecode cache
    times: dict[str, list[float]] = {label: [] for label in labels}
    for r in range(args.rounds):
        for label in labels[r % len(labels) :] + labels[: r % len(labels)]:
            times[label].append(time_import(STATEMENTS[label]))
    for label in labels:
        print(f"{label:30s} {statistics.median(times[label]) * 1000:8.1f} ms (median of {args.rounds})")
    for label, base, target in TARGETS:
        rs = ratios(times[label], times[base])
        print(f"ratio {label} / import {base}: {spread(rs)} {verdict(statistics.median(rs), target)}")
    rs = ratios(times["plugin (full public API)"], times["wandb"])
    print(f"ratio plugin (full public API) / import wandb: {spread(rs)}")
    failed = 0
    for label in ("plugin", "plugin (full public API)", "download helper (first use)"):
        check = subprocess.run([sys.executable, "-c", CHECK.format(statement=STATEMENTS[label])], capture_output=True)
        if check.returncode:
            failed += 1
            print(f"{label}: {check.stderr.decode().strip().splitlines()[-1]}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
