"""One fan-out measurement, run by bench_fanout.py in a fresh interpreter of a side venv.

A parent task gathers ``--n`` concurrent children, each its own W&B run logging ``--steps`` steps,
offline, in Flyte local mode. ``--variant``:

- ``plugin``: ``@wandb_init`` parent and ``@wandb_init(run_mode="new")`` children (whichever
  flyteplugins-wandb this venv has: upstream 2.12.1 or ours);
- ``floor``: the same tasks calling ``wandb.init`` / ``log`` / ``finish`` by hand (init and finish in
  a thread, so the children overlap as they do under the plugin): what wandb itself costs;
- ``floor-noreq``: the same with ``x_save_requirements=False`` (wandb without its per-run scan of the
  installed packages): the least a run can cost.

Prints one JSON line: wall time of the parent's run and the peak RSS of wandb-core (its VmHWM).
Only this file and the standard library, flyte and wandb are imported: it runs in any venv.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import threading
import time
from pathlib import Path

ARGS = argparse.Namespace()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces or parentheses: the ppid follows the last ')'.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


class CorePeak(threading.Thread):
    """Polls the VmHWM (peak resident memory) of this process's wandb-core children."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_kb = 0
        self.stop = threading.Event()

    def _sample(self) -> None:
        todo, seen = [os.getpid()], set()
        while todo:
            pid = todo.pop()
            for child in _children(pid):
                if child in seen:
                    continue
                seen.add(child)
                todo.append(child)
                try:
                    status = Path(f"/proc/{child}/status").read_text()
                    if "wandb-core" not in Path(f"/proc/{child}/cmdline").read_text():
                        continue
                except OSError:
                    continue
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        self.peak_kb = max(self.peak_kb, int(line.split()[1]))

    def run(self) -> None:
        while not self.stop.wait(0.05):
            self._sample()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--variant", choices=("plugin", "floor", "floor-noreq"), required=True)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--name", default="fanout", help="Flyte run name (the runs' ids start with it)")
    parser.parse_args(namespace=ARGS)
    os.makedirs(ARGS.dir, exist_ok=True)
    os.chdir(ARGS.dir)
    os.environ.update(
        WANDB_MODE="offline", WANDB_DIR=ARGS.dir, WANDB_SILENT="true", WANDB_CONSOLE="off", WANDB_DISABLE_GIT="true"
    )

    import flyte
    import wandb

    env = flyte.TaskEnvironment(name="bench_fanout")
    settings = wandb.Settings(x_save_requirements=False) if ARGS.variant == "floor-noreq" else None

    def log(run: object, i: int) -> None:
        for s in range(ARGS.steps):
            run.log({"loss": 1.0 / (s + 1), "child": i})  # type: ignore[attr-defined]

    if ARGS.variant == "plugin":
        from flyteplugins.wandb import get_wandb_run, wandb_init

        @wandb_init(run_mode="new", project="bench-fanout")
        @env.task
        async def child(i: int) -> int:
            log(get_wandb_run(), i)
            return i

        @wandb_init(project="bench-fanout")
        @env.task
        async def parent(n: int) -> int:
            return sum(await asyncio.gather(*(child(i) for i in range(n))))

    else:

        def _open(group: str | None) -> object:
            ctx = flyte.ctx()
            return wandb.init(
                project="bench-fanout",
                id=f"{ctx.action.run_name}-{ctx.action.name}",
                group=group,
                reinit="create_new",
                settings=settings,
            )

        @env.task
        async def child(i: int, group: str) -> int:
            run = await asyncio.to_thread(_open, group)
            log(run, i)
            await asyncio.to_thread(run.finish)  # type: ignore[attr-defined]
            return i

        @env.task
        async def parent(n: int) -> int:
            run = _open(None)
            total = sum(await asyncio.gather(*(child(i, run.id) for i in range(n))))  # type: ignore[attr-defined]
            run.finish()  # type: ignore[attr-defined]
            return total

    flyte.init()
    # The same warm-up for every variant: start wandb's service (no requirements scan) and Flyte.
    wandb.init(project="warmup", settings=wandb.Settings(x_save_requirements=False)).finish()
    peak = CorePeak()
    peak.start()
    start = time.perf_counter()
    flyte.with_runcontext(mode="local", name=ARGS.name).run(parent, ARGS.n)
    wall = time.perf_counter() - start
    peak.stop.set()
    peak.join()
    peak._sample()
    print(json.dumps({"variant": ARGS.variant, "wall": wall, "core_peak_mb": peak.peak_kb / 1024}))
    wandb.teardown()


if __name__ == "__main__":
    main()
