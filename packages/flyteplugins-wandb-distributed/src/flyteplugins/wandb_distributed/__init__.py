"""Rank handling for ``flyteplugins-wandb`` under torchrun / Flyte Elastic (the ``[distributed]`` extra).

``@wandb_init`` finds this package when a task runs with ``WORLD_SIZE > 1`` and applies the ``run_mode`` ×
``rank_scope`` matrix (docs/distributed.md). Users call `get_distributed_info`; the other names are core's
rank hooks (``_extras.RANK_HOOKS``): renaming one breaks core.
"""

from __future__ import annotations

from ._ranks import (
    check_task,
    detect_topology,
    get_distributed_info,
    is_distributed_task,
    links_for_task,
    on_run_open,
    resolve_distributed,
)

__all__ = [
    "check_task",
    "detect_topology",
    "get_distributed_info",
    "is_distributed_task",
    "links_for_task",
    "on_run_open",
    "resolve_distributed",
]
