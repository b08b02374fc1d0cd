"""The rank handler core loads: this package's implementation of ``flyteplugins.wandb_core.ext.RankHandler``.

Core finds it as ``flyteplugins.wandb_distributed.rank_handler`` and calls nothing else here; each method
delegates to the module that owns the logic, so the functions stay usable (and tested) on their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flyteplugins.wandb_core import Wandb
from flyteplugins.wandb_core.ext import ActiveRun, RankHandler, RunPlan, TaskInfo, Topology

from . import _guard, _resolve, _task, _topology


class TorchrunRankHandler:
    """Rank handling for torchrun and Flyte Elastic jobs (see the package docstring for the matrix)."""

    def detect_topology(self, env: Mapping[str, str]) -> Topology | None:
        return _topology.detect_topology(env)

    def resolve_distributed(
        self, settings: Mapping[str, Any], task: TaskInfo, topology: Topology, plan: RunPlan
    ) -> RunPlan:
        return _resolve.resolve_distributed(settings, task, topology, plan)

    def on_run_open(self, active: ActiveRun) -> None:
        _guard.on_run_open(active)

    def links_for_task(
        self, task: Any, link_args: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> Sequence[Wandb]:
        return _task.links_for_task(task, link_args, settings)

    def check_task(self, task: Any, settings: Mapping[str, Any]) -> None:
        _task.check_task(task, settings)

    def is_distributed_task(self, task: Any) -> bool:
        return _task.is_distributed_task(task)

    def __repr__(self) -> str:
        return "<flyteplugins.wandb_distributed rank handler>"


# Annotated with the protocol: mypy checks this class against core's contract.
rank_handler: RankHandler = TorchrunRankHandler()
