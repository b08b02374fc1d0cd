"""One torchrun worker: runs tracked Flyte tasks (local mode) for several run modes and reports.

Launched by ``torchrun`` from the tests and the benchmark (never collected by pytest). Each mode is its
own Flyte run, named ``{prefix}-{run_mode}-{rank_scope}``: every worker uses the same name, so every
worker derives the same Flyte action name, exactly as Elastic workers of one task do.

Writes ``{out}/rank-{RANK}-attempt-{N}.json`` (N: launch of the worker group, 0 first): one entry per
mode with what this rank saw (run or None, run id, distributed info) and how many wandb service
processes it had started by then.

Options (argv): ``--out DIR --modes auto/global,new/worker,... --prefix NAME`` and
``--async-body`` (the task functions are ``async def``, as in the seeds' Elastic example),
``--fail-attempt N`` (the task raises after logging in launch N; ``--fail-ranks`` limits that to some
ranks, which then exit at once while the others keep training for ``--linger`` s), ``--no-track`` (the same
work without @wandb_init, for the benchmark baseline), ``--hide-distributed`` (run as if
flyteplugins-wandb-distributed were not installed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

T_START = time.time()

parser = argparse.ArgumentParser()
parser.add_argument("--out", required=True)
parser.add_argument("--modes", default="auto/global")
parser.add_argument("--prefix", default="dist")
parser.add_argument("--fail-attempt", type=int, default=-1)
parser.add_argument("--fail-ranks", default="", help="only these ranks fail (comma-separated); default all")
parser.add_argument("--linger", type=float, default=0.0, help="ranks that do not fail keep training this long")
parser.add_argument("--no-track", action="store_true")
parser.add_argument("--hide-distributed", action="store_true")
parser.add_argument("--steps", type=int, default=3)
parser.add_argument("--async-body", action="store_true", help="async def task functions")
args = parser.parse_args()

if args.hide_distributed:
    # As if the package were not installed: its editable install is only a sys.path entry.
    sys.path[:] = [p for p in sys.path if "flyteplugins-wandb-distributed" not in p]

import flyte  # noqa: E402
import psutil  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

from flyteplugins.pytorch.task import Elastic  # noqa: E402
from flyteplugins.wandb import get_wandb_run, wandb_init  # noqa: E402

RANK = int(os.environ["RANK"])
FAIL_RANKS = {int(r) for r in args.fail_ranks.split(",") if r}


def _attempt() -> int:
    # Which launch of the worker group this is. Not TORCHELASTIC_RESTART_COUNT: an agent that restarts
    # because the other node's workers failed (a membership change) keeps its count at 0. Every
    # relaunch starts every rank, so counting this rank's launches in the shared directory agrees.
    marks = Path(args.out) / "launches"
    marks.mkdir(parents=True, exist_ok=True)
    n = len(list(marks.glob(f"rank-{RANK}-*")))
    (marks / f"rank-{RANK}-{n}").touch()
    return n


ATTEMPT = _attempt()
NNODES = int(os.environ.get("GROUP_WORLD_SIZE", "1"))
NPROC = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))

env = flyte.TaskEnvironment(name="dist_it", plugin_config=Elastic(nnodes=NNODES, nproc_per_node=NPROC))


class PlannedFailure(RuntimeError):
    pass


def wandb_processes() -> int:
    return sum(1 for p in psutil.Process().children(recursive=True) if p.name() == "wandb-core")


def distributed_info() -> dict[str, Any] | None:
    if args.hide_distributed:
        return None
    from flyteplugins.wandb import get_distributed_info

    return get_distributed_info()


def init_process_group() -> None:
    if dist.is_initialized():
        return
    # The agent's store outlives a restart of the worker group; without a per-attempt prefix the
    # relaunched ranks read the dead ranks' gloo addresses from the first attempt.
    agent_store = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"
    store = dist.TCPStore(
        os.environ["MASTER_ADDR"],
        int(os.environ["MASTER_PORT"]),
        is_master=not agent_store and RANK == 0,
        timeout=timedelta(seconds=120),
    )
    dist.init_process_group(
        "gloo", store=dist.PrefixStore(f"attempt-{ATTEMPT}", store), rank=RANK, world_size=int(os.environ["WORLD_SIZE"])
    )


def train_body(label: str) -> str:
    init_process_group()
    # A collective before logging: every rank must get here, whatever W&B does on the others.
    total = torch.tensor([float(dist.get_rank() + 1)])
    dist.all_reduce(total)
    run = get_wandb_run()
    info = distributed_info()
    if run is not None:
        # Console output: in shared mode each writer's lines reach the run labelled with its x_label.
        print(f"hello from rank {RANK}, attempt {ATTEMPT}", flush=True)
        for step in range(args.steps):
            run.log({"rank": RANK, "allreduce": float(total.item()), "attempt": ATTEMPT, "step_i": step})
    entry = {
        "mode": label,
        "rank": RANK,
        "attempt": ATTEMPT,
        "got_run": run is not None,
        "action": flyte.ctx().action.name,
        "run_name": flyte.ctx().action.run_name,
        "run_id": getattr(run, "id", None),
        "info": info,
        "allreduce": float(total.item()),
    }
    RESULTS.append(entry)
    if args.fail_attempt == ATTEMPT and (not FAIL_RANKS or RANK in FAIL_RANKS):
        raise PlannedFailure(f"planned failure on rank {RANK}, attempt {ATTEMPT}")
    deadline = time.time() + args.linger
    while time.time() < deadline:
        # "Training": a collective every few seconds, which fails once a peer is gone.
        time.sleep(min(5.0, max(deadline - time.time(), 0.0)))
        dist.all_reduce(torch.ones(1))
    return label


def make_task(run_mode: str, rank_scope: str) -> Any:
    def sync_body() -> str:
        return train_body(f"{run_mode}/{rank_scope}")

    async def async_body() -> str:
        await asyncio.sleep(0)  # a real await: the body is a coroutine driven by an event loop
        label = train_body(f"{run_mode}/{rank_scope}")
        RESULTS[-1]["async_body"] = asyncio.get_running_loop() is not None
        return label

    body: Any = async_body if args.async_body else sync_body
    body.__name__ = body.__qualname__ = f"train_{run_mode}_{rank_scope}"
    task = env.task(body)
    if args.no_track:
        return task
    return wandb_init(project="dist-it", entity="it", run_mode=run_mode, rank_scope=rank_scope)(task)


RESULTS: list[dict[str, Any]] = []


def main() -> int:
    modes = [tuple(m.split("/")) for m in args.modes.split(",") if m]
    tasks = {m: make_task(*m) for m in modes}
    flyte.init()
    failed = False
    timings = {}
    for (run_mode, rank_scope), task in tasks.items():
        t0 = time.time()
        error = None
        try:
            flyte.with_runcontext(mode="local", name=f"{args.prefix}-{run_mode}-{rank_scope}").run(task)
        except Exception as exc:
            failed = True
            error = f"{type(exc).__name__}: {exc}"
        timings[f"{run_mode}/{rank_scope}"] = time.time() - t0
        if RESULTS and RESULTS[-1]["mode"] == f"{run_mode}/{rank_scope}":
            RESULTS[-1]["error"] = error
            # Counted after the run finished: the service outlives the run until the process exits.
            RESULTS[-1]["wandb_processes"] = wandb_processes()
            RESULTS[-1]["wandb_imported"] = "wandb" in sys.modules
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {
        "rank": RANK,
        "attempt": ATTEMPT,
        "entries": RESULTS,
        "timings": timings,
        "wall": time.time() - T_START,
        "wandb_processes": wandb_processes(),
    }
    (out / f"rank-{RANK}-attempt-{ATTEMPT}.json").write_text(json.dumps(report, indent=1))
    if failed and FAIL_RANKS:
        # A lone failing rank leaves at once, as a crashing worker would: the agent then stops the rest.
        return 1
    if dist.is_initialized():
        # Every rank has finished its runs before any exits, so the agent never kills a writer.
        dist.barrier()
        dist.destroy_process_group()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
