"""Import cost of `flyteplugins.wandb` against `import flyte` and `import wandb`.

    uv run python benchmarks/bench_import.py [--repeat 7]

Each import runs in a fresh interpreter; the figure is the median wall time of the import statement.
The plugin imports flyte but must not import wandb (loaded when the first tracked task runs).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

STATEMENTS = {
    "flyte": "import flyte",
    "wandb": "import wandb",
    "plugin": "import flyteplugins.wandb",
    "plugin (full public API)": (
        "from flyteplugins.wandb import wandb_init, wandb_config, get_wandb_run, get_wandb_run_dir, "
        "get_wandb_context, Wandb, RunMode, RankScope"
    ),
}


def time_import(statement: str) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    results = {}
    for label, stmt in STATEMENTS.items():
        time_import(stmt)  # warm the OS file cache
        results[label] = statistics.median(time_import(stmt) for _ in range(args.repeat))
        print(f"{label:28s} {results[label] * 1000:8.1f} ms (median of {args.repeat})")
    plugin = results["plugin (full public API)"]
    print(f"ratio plugin / import flyte : {plugin / results['flyte']:.2f}")
    print(f"ratio plugin / import wandb : {plugin / results['wandb']:.2f}")


if __name__ == "__main__":
    main()
