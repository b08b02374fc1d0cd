"""Memory of logging a large directory as a W&B artifact: peak RSS relative to the directory's size.

Builds a directory of random files (200 MB by default), starts the loopback W&B server as its own
process (so the bytes it stores do not count), and, in a fresh child process, runs a tracked Flyte
task (local mode) that logs the directory with ``log_wandb_artifact`` and waits for the commit. The
same task without the artifact is the baseline. Prints, for the task process and for wandb's service
(``wandb-core``, a child of the task process), the peak RSS and the extra peak over the baseline as
a fraction of the directory size::

    .venv/bin/python benchmarks/bench_artifact_upload.py [--size-mb 200] [--files 20]

Exits non-zero when the artifact is missing on the server, or when either process's extra peak is
larger than the directory itself (the upload buffered the files instead of streaming them). The
figures are printed, never compared with a time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, os, resource, sys
import flyte
from flyteplugins.wandb import get_wandb_run, log_wandb_artifact, wandb_init
from wandb_loopback.teardown import teardown_wandb

env = flyte.TaskEnvironment(name="bench_artifacts")
data, log = sys.argv[1], sys.argv[2] == "1"


@wandb_init(project="bench-artifacts")
@env.task
def upload() -> str:
    if log:
        log_wandb_artifact(data, name="big-dir", type="dataset").wait()
    return get_wandb_run().id


flyte.init()
flyte.with_runcontext(mode="local", name="bench-" + sys.argv[2]).run(upload)
stored = 0
if log:  # what the server holds: the committed version and its size
    import wandb

    stored = wandb.Api().artifact("loopback/bench-artifacts/big-dir:latest").size
teardown_wandb()  # the service exits, so its peak shows in RUSAGE_CHILDREN
kib = 1024 if sys.platform != "darwin" else 1
print(json.dumps({
    "task": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * kib,
    "service": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * kib,
    "stored": stored,
}))
"""


def make_dir(root: Path, size_mb: int, files: int) -> int:
    per = size_mb * 1024 * 1024 // files
    chunk = 1024 * 1024
    for i in range(files):
        with open(root / f"shard-{i:03d}.bin", "wb") as f:
            left = per
            while left > 0:
                n = min(chunk, left)
                f.write(os.urandom(n))
                left -= n
    return per * files


def run_child(data: Path, log: bool, env: dict[str, str], cwd: str) -> dict[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(data), "1" if log else "0"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if out.returncode != 0:
        raise SystemExit(f"child failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--files", type=int, default=20)
    args = parser.parse_args()

    from wandb_loopback import LoopbackProcess

    with tempfile.TemporaryDirectory(prefix="bench-artifact-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        size = make_dir(data, args.size_mb, args.files)
        server = LoopbackProcess().start()
        try:
            env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
            env.update(server.env(), WANDB_DIR=tmp, WANDB_SILENT="true", WANDB_CONSOLE="off", HOME=tmp)
            base = run_child(data, False, env, tmp)
            logged = run_child(data, True, env, tmp)
        finally:
            server.stop()

    mib = 1024 * 1024
    print(f"directory: {size / mib:.0f} MiB in {args.files} files")
    bad = False
    for proc in ("task", "service"):
        extra = logged[proc] - base[proc]
        ratio = extra / size
        print(
            f"{proc:>8}: peak RSS {logged[proc] / mib:7.1f} MiB with the artifact, "
            f"{base[proc] / mib:7.1f} MiB without; extra {extra / mib:7.1f} MiB = {ratio:.3f} x dir size"
        )
        bad = bad or ratio > 1.0
    print(f"  server: artifact big-dir holds {logged['stored'] / mib:.0f} MiB")
    if logged["stored"] != size:
        print("FAIL: the server does not hold the whole directory")
        bad = True
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
