"""Parallel vs one-by-one file download of a W&B run with 50 files (``download_wandb_run_dir``).

Logs one run with 50 saved files (plus wandb's own) to the loopback W&B server, then downloads it with
``max_workers=1`` (one file after the other) and with the default ``max_workers``, alternating, and
prints the median wall time of each and their ratio. Two settings of the server:

- ``loopback``: no added latency (what this machine's loopback gives: the floor);
- ``latency``: each file GET answered after ``--latency`` seconds (default 0.05), like a storage
  bucket one network round trip away, which is where parallel downloads pay off.

Both copies are checked byte for byte against what the server stored. Run from the repository root::

    uv run python benchmarks/bench_download.py [--repeats 3] [--files 50] [--latency 0.05]

Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stats import ratios, spread

try:  # flyteplugins-wandb-testing (nox -s bench installs it)
    from wandb_loopback import LoopbackServer
except ImportError:  # a checkout without it installed
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "packages/flyteplugins-wandb-testing/src"))
    from wandb_loopback import LoopbackServer


def _make_run(server: LoopbackServer, files: int) -> None:
    import wandb

    run = wandb.init(project="bench", entity="e", id="dl50")
    parts = Path(run.dir) / "parts"
    parts.mkdir()
    for i in range(files):
        (parts / f"f{i:02d}.bin").write_bytes(os.urandom(4096 + i))
    run.save(str(parts / "*.bin"), base_path=run.dir)
    for i in range(20):
        run.log({"loss": 1 / (i + 1)})
    run.finish()
    stored = server.run("dl50")
    assert len([n for n in stored.files if n.startswith("parts/")]) == files, "not every file was uploaded"


def _download(workers: int, root: Path) -> float:
    from flyteplugins.wandb import download_wandb_run_dir

    target = root / f"w{workers}"
    shutil.rmtree(target, ignore_errors=True)
    start = time.perf_counter()
    download_wandb_run_dir("dl50", str(target), project="bench", entity="e", max_workers=workers)
    return time.perf_counter() - start


def _check(server: LoopbackServer, root: Path) -> None:
    for name, data in server.run("dl50").files.items():
        for workers_dir in root.iterdir():
            assert (workers_dir / name).read_bytes() == data, f"{workers_dir.name}/{name} differs"


def main() -> int:
    from flyteplugins.wandb_core._download import DEFAULT_WORKERS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, LoopbackServer() as server:
        os.chdir(tmp)
        os.environ.update(server.env(), WANDB_SILENT="true", WANDB_DIR=tmp, WANDB_CONSOLE="off")
        _make_run(server, args.files)
        total = len(server.run("dl50").files)
        _download(DEFAULT_WORKERS, Path(tmp) / "warm")  # start wandb's service outside the timings
        print(f"run with {total} files ({args.files} saved by the run); {args.repeats} repeats each")
        print(f"{'server':<14} {'one-by-one':>12} {f'parallel ({DEFAULT_WORKERS})':>14}  ratio [min, max]")
        for label, latency in (("loopback", 0.0), ("latency", args.latency)):
            server.heal()
            if latency:
                server.slow(latency, match="storage")
            serial, parallel = [], []
            for _ in range(args.repeats):
                serial.append(_download(1, Path(tmp) / label))
                parallel.append(_download(DEFAULT_WORKERS, Path(tmp) / label))
            _check(server, Path(tmp) / label)
            s, p = statistics.median(serial), statistics.median(parallel)
            name = f"{label}" + (f" +{latency * 1000:.0f}ms" if latency else "")
            print(f"{name:<14} {s:>11.2f}s {p:>13.2f}s  {spread(ratios(serial, parallel), '{:.1f}x')}")
        import wandb

        wandb.teardown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
