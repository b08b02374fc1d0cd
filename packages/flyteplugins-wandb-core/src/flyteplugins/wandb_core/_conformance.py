"""Conformance checks for `RankHandler` implementations.

What core relies on, checked with pure inputs (no processes, no wandb): the methods exist and take the
arguments core passes; torchrun's variables are read into the right topology; every rank of a 2 × 2
job gets a plan core can execute, the ranks agree on run ids, and each run has exactly one owner of its
final state; Elastic tasks get at least one link, a single-process one exactly one.
"""

from __future__ import annotations

import dataclasses
import inspect
from types import SimpleNamespace
from typing import Any

from ._resolve import RunPlan, TaskInfo, Topology
from ._state import ActiveRun
from ._validate import RANK_SCOPES, RUN_MODES

NODES, PROCS = 2, 2
BASE = "conformance-a0"


@dataclasses.dataclass
class Elastic:
    """Stand-in for flyteplugins-pytorch's ``Elastic`` (core reads it by class name and attributes)."""

    nnodes: Any = 1
    nproc_per_node: Any = 1


def _task(nnodes: int, nproc: int) -> Any:
    def train() -> None: ...

    return SimpleNamespace(name="conformance", plugin_config=Elastic(nnodes, nproc), func=train, links=())


def _env(rank: int) -> dict[str, str]:
    return {
        "RANK": str(rank),
        "WORLD_SIZE": str(NODES * PROCS),
        "LOCAL_RANK": str(rank % PROCS),
        "LOCAL_WORLD_SIZE": str(PROCS),
        "GROUP_RANK": str(rank // PROCS),
        "GROUP_WORLD_SIZE": str(NODES),
    }


def _takes(handler: object, method: str, *args: Any) -> None:
    func = getattr(handler, method, None)
    assert callable(func), f"RankHandler.{method} is missing or not callable on {handler!r}"
    try:
        inspect.signature(func).bind(*args)
    except TypeError as exc:
        raise AssertionError(
            f"RankHandler.{method} cannot take core's {len(args)} arguments: {exc}"
        ) from None


def _check_topology(handler: Any) -> list[Topology]:
    for env in ({}, {"WORLD_SIZE": "1", "RANK": "0"}):
        assert handler.detect_topology(env) is None, f"detect_topology({env}) must be None (not distributed)"
    topologies = []
    for rank in range(NODES * PROCS):
        topology = handler.detect_topology(_env(rank))
        assert isinstance(topology, Topology), (
            f"detect_topology: rank {rank} of a 2 x 2 job gave {topology!r}"
        )
        got = (
            topology.rank,
            topology.local_rank,
            topology.worker_index,
            topology.world_size,
            topology.num_workers,
        )
        want = (rank, rank % PROCS, rank // PROCS, NODES * PROCS, NODES)
        assert got == want, f"detect_topology: rank {rank} read as {got}, expected {want}"
        topologies.append(topology)
    return topologies


def _check_plans(handler: Any, topologies: list[Topology]) -> None:
    task = TaskInfo(in_task=True, run_name="conformance", action_name="a0")
    for run_mode in RUN_MODES:
        for rank_scope in RANK_SCOPES:
            settings = {"run_mode": run_mode, "rank_scope": rank_scope, "project": "p"}
            cell = f"run_mode={run_mode!r}, rank_scope={rank_scope!r}"
            owners: dict[str, int] = {}
            for topology in topologies:
                plans = [
                    handler.resolve_distributed(
                        settings,
                        task,
                        topology,
                        RunPlan(action="init", run_id=BASE, init_kwargs={"project": "p", "mode": "offline"}),
                    )
                    for _ in range(2)
                ]
                plan = plans[0]
                assert isinstance(plan, RunPlan), f"resolve_distributed ({cell}) returned {plan!r}"
                assert plan.action in ("init", "skip"), (
                    f"{cell}: rank {topology.rank} got action {plan.action!r}"
                )
                assert (plans[1].action, plans[1].run_id) == (plan.action, plan.run_id), (
                    f"{cell}: rank {topology.rank} resolved differently twice (ranks could not agree)"
                )
                if plan.action == "skip":
                    assert not plan.primary, f"{cell}: rank {topology.rank} skips but owns a run"
                    continue
                assert plan.run_id, f"{cell}: rank {topology.rank} opens a run without an id"
                assert plan.run_id == BASE or plan.run_id.startswith(BASE + "-"), (
                    f"{cell}: run id {plan.run_id!r} does not derive from the base id {BASE!r}"
                )
                owners.setdefault(plan.run_id, 0)
                owners[plan.run_id] += int(plan.primary)
            assert owners, f"{cell}: no rank logs at all"
            for run_id, count in owners.items():
                assert count == 1, f"{cell}: run {run_id!r} has {count} owners of its final state, expected 1"


def _check_tasks(handler: Any) -> None:
    args = {
        "host": None,
        "project": "p",
        "entity": "e",
        "run_mode": "auto",
        "rank_scope": "global",
        "id": None,
    }
    for nnodes, nproc in ((NODES, PROCS), (1, PROCS), (1, 1)):
        task = _task(nnodes, nproc)
        handler.check_task(task, {})
        distributed = handler.is_distributed_task(task)
        assert distributed is (nnodes * nproc > 1), (
            f"is_distributed_task(Elastic(nnodes={nnodes}, nproc_per_node={nproc})) gave {distributed!r}"
        )
        links = list(handler.links_for_task(task, args, {}))
        assert links and all(callable(getattr(link, "get_link", None)) for link in links), (
            f"links_for_task(Elastic(nnodes={nnodes}, nproc_per_node={nproc})) gave {links!r}"
        )
        if nnodes == 1:
            assert len(links) == 1, f"a single-node Elastic task must get exactly one link, got {len(links)}"


def check_rank_handler(handler: object) -> None:
    from .ext import RankHandler

    _takes(handler, "detect_topology", {})
    _takes(handler, "resolve_distributed", {}, TaskInfo(), Topology(0, 0, 2, 2, 0, 1), RunPlan(action="init"))
    _takes(handler, "on_run_open", ActiveRun(run=None, run_id=None, primary=False))
    _takes(handler, "links_for_task", _task(1, 1), {}, {})
    _takes(handler, "check_task", _task(1, 1), {})
    _takes(handler, "is_distributed_task", _task(1, 1))
    assert isinstance(handler, RankHandler), f"{handler!r} does not implement RankHandler"
    _check_plans(handler, _check_topology(handler))
    _check_tasks(handler)
    # Core calls it with an open run; a handler may keep a (weak) reference to it.
    handler.on_run_open(ActiveRun(run=_Run(), run_id=BASE, primary=True))


class _Run:
    """Stand-in for an open wandb run: what a rank handler may read (``id``, ``dir``) and keep."""

    id = BASE
    dir = ""

    def finish(self, exit_code: int = 0) -> None: ...
