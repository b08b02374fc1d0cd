"""Delay W&B trouble adds to a tracked Flyte task (fail-open), against the loopback W&B server.

Runs the same small task (5 ``run.log`` calls) in Flyte local mode, tracked with ``@wandb_init`` and
untracked, under each server condition, and prints the tracked task's wall time, the untracked
baseline measured in the same run, and the difference (the delay tracking added):

- ``healthy``: the server works (online run; the normal cost of tracking);
- ``refused``: nothing listens on the server's port (server down);
- ``black hole``: the port accepts no connection and answers nothing (SYNs dropped: a firewalled or
  unreachable host), simulated on 127.0.0.1 with a listening socket whose backlog is full;
- ``5xx``: every request answered with HTTP 500 (server up but failing);
- ``dies mid-run``: the server is killed while the task runs (after the first ``log``).

Every tracked task must return its result; the script exits non-zero otherwise. By default the
plugin's defaults apply (probe 5 s, init_timeout 30 s, finish_timeout 60 s), so the slow rows take
about that long; ``--quick`` sets init_timeout=5 and finish_timeout=5 to show the bounds follow the
settings. Run from the repository root::

    uv run python benchmarks/bench_fail_open.py [--repeats 3] [--quick]

Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import flyte
from _stats import spread

from flyteplugins.wandb import get_wandb_run, wandb_config, wandb_init
from flyteplugins.wandb_core import _lifecycle as lifecycle

try:  # flyteplugins-wandb-testing (nox -s bench installs it)
    from wandb_loopback import LoopbackServer
except ImportError:  # a checkout without it installed
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "packages/flyteplugins-wandb-testing/src"))
    from wandb_loopback import LoopbackServer

env = flyte.TaskEnvironment(name="bench_fail_open")
_hook: dict[str, Callable[[], None]] = {}


def _body(n: int) -> int:
    run = get_wandb_run()
    for i in range(n):
        if run is not None:
            run.log({"m": i})
        if i == 0 and "mid_run" in _hook:
            _hook["mid_run"]()
    return n * 2


@wandb_init(project="bench", entity="e")
@env.task
async def tracked(n: int) -> int:
    return _body(n)


@env.task
async def untracked(n: int) -> int:
    return _body(n)


def _timed(task: Any, name: str, context: dict[str, str]) -> float:
    start = time.perf_counter()
    out = flyte.with_runcontext(mode="local", name=name, custom_context=context).run(task, 5).outputs()[0]
    elapsed = time.perf_counter() - start
    if out != 10:
        raise SystemExit(f"{name}: the task returned {out!r} instead of 10")
    return elapsed


class BlackHole:
    """A 127.0.0.1 port that never completes a TCP handshake: its accept backlog is kept full."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.fillers = []
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", self.port))
            self.fillers.append(filler)
        time.sleep(0.2)

    def close(self) -> None:
        for filler in self.fillers:
            filler.close()
        self.sock.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="init_timeout=5, finish_timeout=5")
    args = parser.parse_args()
    context = dict(wandb_config(finish_timeout=5.0, settings={"init_timeout": 5.0})) if args.quick else {}
    init_timeout = 5.0 if args.quick else lifecycle.DEFAULT_INIT_TIMEOUT
    finish_timeout = 5.0 if args.quick else lifecycle.DEFAULT_FINISH_TIMEOUT

    tmp = tempfile.mkdtemp(prefix="bench-fail-open-")
    os.chdir(tmp)
    os.environ.update(WANDB_SILENT="true", WANDB_DIR=tmp, WANDB_CONSOLE="off", WANDB_DISABLE_GIT="true")
    flyte.init()
    server = LoopbackServer().start()
    hole = BlackHole()
    os.environ.update(server.env())

    def healthy() -> None:
        server.heal()
        if server._httpd is None:
            server.start()

    def refused() -> None:
        server.kill()

    def black_hole() -> None:
        # wandb reads WANDB_BASE_URL once per process: name the host the way users do instead.
        extra["host"] = f"http://127.0.0.1:{hole.port}"

    def failing() -> None:
        healthy()
        server.fail(500)

    def dies() -> None:
        healthy()
        _hook["mid_run"] = server.kill

    extra: dict[str, str] = {}
    scenarios = [
        ("healthy", healthy, args.repeats, "-"),
        ("refused", refused, args.repeats, f"probe (<{lifecycle.PROBE_TIMEOUT:.0f}s)"),
        ("black hole", black_hole, args.repeats, f"probe timeout {lifecycle.PROBE_TIMEOUT:.0f}s"),
        ("5xx", failing, 1, f"init_timeout {init_timeout:.0f}s"),
        ("dies mid-run", dies, 1, f"finish_timeout {finish_timeout:.0f}s"),
    ]
    _timed(untracked, "warm-u", {})
    _timed(tracked, "warm-t", context)  # start wandb's service outside the timings
    print(f"{'server':<13} {'tracked':>9} {'untracked':>10}  {'added (per pair) [min, max]':<24} bound")
    rows = 0
    for label, setup, repeats, bound in scenarios:
        with_tracking, baseline = [], []
        for i in range(repeats):
            lifecycle.reset_breaker()
            _hook.clear()
            extra.clear()
            setup()
            tag = label.replace(" ", "")
            ctx = {**context, **(dict(wandb_config(**extra)) if extra else {})}
            with_tracking.append(_timed(tracked, f"{tag}-{i}", ctx))
            _hook.clear()
            baseline.append(_timed(untracked, f"{tag}-u{i}", {}))
        t, u = statistics.median(with_tracking), statistics.median(baseline)
        added = spread([a - b for a, b in zip(with_tracking, baseline, strict=True)], "{:.2f}s")
        print(f"{label:<13} {t:>8.2f}s {u:>9.2f}s  {added:<24} {bound}", flush=True)
        rows += 1
    server.heal()
    hole.close()
    import wandb

    wandb.teardown()
    server.stop()
    return 0 if rows == len(scenarios) else 1


if __name__ == "__main__":
    sys.exit(main())
