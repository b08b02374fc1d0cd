"""What keeping an offline run in the Flyte run's storage adds to a tracked task with a small run.

    uv run python benchmarks/bench_persist.py [--runs 9] [--steps 50]

The store is an S3-compatible server on loopback (moto, as in the cluster tests), reached through
``flyte.storage``. Flyte's local mode never persists, so both variants run in local mode and the
persist variant makes the plugin see a cluster location (``_persist.location`` patched): what is
timed is exactly the added work (waiting for wandb's last flush, uploading the folder). Variants
alternate so that machine noise hits both. Target: at most a few hundred ms added per task
(reported as the median added ms and the ratio persist / not).

It also runs one online task against the loopback W&B server with the location set, and counts
the storage calls it made: the online case reads (and writes) nothing.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("WANDB_CONSOLE", "off")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import flyte
import flyte.storage
from _stats import ratios, spread, verdict

from flyteplugins.wandb import get_wandb_run, wandb_init
from flyteplugins.wandb_core import _persist

env = flyte.TaskEnvironment(name="bench_persist")
STEPS = 50
BUCKET = "bench-store"


@wandb_init(project="bench-persist")
@env.task
async def small(i: int) -> int:
    run = get_wandb_run()
    for s in range(STEPS):
        run.log({"loss": 1.0 / (s + 1), "i": i})
    return i


def start_store() -> Any:
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ.update(FLYTE_AWS_ENDPOINT=endpoint, FLYTE_AWS_ACCESS_KEY_ID="bench", FLYTE_AWS_SECRET_ACCESS_KEY="bench")
    boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
        aws_secret_access_key="bench",
    ).create_bucket(Bucket=BUCKET)  # fmt: skip
    return server


def timed(i: int, persist: bool) -> float:
    where = _persist.Location(f"s3://{BUCKET}", "bench", f"a{i}", 0) if persist else None
    _persist.location = lambda: where  # type: ignore[assignment]
    t = time.perf_counter()
    flyte.with_runcontext(mode="local", name=f"p{i}-{int(persist)}").run(small, i)
    return time.perf_counter() - t


def online_storage_calls() -> int:
    """In a process of its own: wandb keeps the first run's mode (offline here) for the process."""
    import subprocess

    out = subprocess.run(
        [sys.executable, __file__, "--online-check"], capture_output=True, text=True, check=True, env={
            k: v for k, v in os.environ.items() if k != "WANDB_MODE"
        },
    )  # fmt: skip
    return int(out.stdout.strip().splitlines()[-1])


def _online_check() -> int:
    from wandb_loopback import LoopbackServer

    calls = 0
    real_put, real_get = flyte.storage.put, flyte.storage.get

    async def put(*a: Any, **k: Any) -> Any:
        nonlocal calls
        calls += 1
        return await real_put(*a, **k)

    async def get(*a: Any, **k: Any) -> Any:
        nonlocal calls
        calls += 1
        return await real_get(*a, **k)

    flyte.storage.put, flyte.storage.get = put, get  # type: ignore[assignment]
    _persist.location = lambda: _persist.Location(f"s3://{BUCKET}", "bench", "online", 0)  # type: ignore[assignment]
    try:
        with LoopbackServer() as server:
            os.environ.update(server.env())
            flyte.init()
            flyte.with_runcontext(mode="local", name="online").run(small, 0)
    finally:
        flyte.storage.put, flyte.storage.get = real_put, real_get  # type: ignore[assignment]
    return calls


def main() -> None:
    global STEPS
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--online-check", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    STEPS = args.steps
    if args.online_check:
        os.chdir(tempfile.mkdtemp(prefix="bench-persist-online-"))
        print(_online_check())
        return
    os.chdir(tempfile.mkdtemp(prefix="bench-persist-"))
    os.environ["WANDB_MODE"] = "offline"
    server = start_store()
    try:
        flyte.init()
        timed(-1, False)  # start wandb's service once, outside the measurement
        timed(-2, True)  # and the storage client
        plain, kept = [], []
        for i in range(args.runs):
            pair = [(plain, False), (kept, True)] if i % 2 else [(kept, True), (plain, False)]
            for out, persist in pair:
                out.append(timed(i, persist))
    finally:
        server.stop()
    calls = online_storage_calls()
    p, k = statistics.median(plain), statistics.median(kept)
    added = [b - a for a, b in zip(plain, kept, strict=True)]
    print(f"offline task, not persisted  median {p * 1000:8.1f} ms over {args.runs} runs")
    print(f"offline task, persisted      median {k * 1000:8.1f} ms over {args.runs} runs")
    print(f"added per task (ms): {spread([a * 1000 for a in added], '{:.0f}')} "
          f"{verdict(statistics.median(added) * 1000, 300)}")  # fmt: skip
    print(f"ratio persisted / not: {spread(ratios(kept, plain), '{:.3f}')}")
    print(f"storage calls during an online task: {calls} {verdict(calls, 0)}")


if __name__ == "__main__":
    main()
