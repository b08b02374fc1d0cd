"""This package against core's extension contract (``flyteplugins.wandb_core.ext``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from flyteplugins.wandb_core.ext import (
    RankHandler,
    RunPlan,
    TaskInfo,
    Topology,
    check_rank_handler,
    installed_rank_handler,
)
from flyteplugins.wandb_distributed import TorchrunRankHandler, rank_handler


def test_rank_handler_conforms() -> None:
    check_rank_handler(rank_handler)


def test_core_loads_this_rank_handler() -> None:
    assert installed_rank_handler() is rank_handler
    assert isinstance(rank_handler, RankHandler)


class TwoOwners(TorchrunRankHandler):
    """Shared mode where every rank thinks it finishes the run: what the kit must catch."""

    def resolve_distributed(
        self, settings: Mapping[str, Any], task: TaskInfo, topology: Topology, plan: RunPlan
    ) -> RunPlan:
        plan = super().resolve_distributed(settings, task, topology, plan)
        if settings.get("run_mode") == "shared":
            plan.primary = True
        return plan


class MissingHook:
    def detect_topology(self, env: Mapping[str, str]) -> Topology | None:
        return None


def test_the_kit_catches_a_handler_that_breaks_the_contract() -> None:
    with pytest.raises(AssertionError, match="owners of its final state"):
        check_rank_handler(TwoOwners())
    with pytest.raises(AssertionError, match="resolve_distributed is missing"):
        check_rank_handler(MissingHook())
