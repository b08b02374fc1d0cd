"""Rank handling for ``flyteplugins-wandb`` under torchrun / Flyte Elastic (the ``[distributed]`` extra).

Nothing to call: ``@wandb_init`` finds this package when a task runs with ``WORLD_SIZE > 1`` and applies
the ``run_mode`` × ``rank_scope`` matrix (docs/distributed.md). Core calls the functions in its
``_extras.RANK_HOOKS``: renaming one breaks core.
"""

from __future__ import annotations

from ._resolve import group_for, is_scope_primary, resolve_distributed, run_id_for
from ._task import check_task, elastic_shape, install_guard, is_distributed_task, links_for_task, on_run_open
from ._topology import ENV_VARS, detect_topology, get_distributed_info

__all__ = [
    "ENV_VARS",
    "check_task",
    "detect_topology",
    "elastic_shape",
    "get_distributed_info",
    "group_for",
    "install_guard",
    "is_distributed_task",
    "is_scope_primary",
    "links_for_task",
    "on_run_open",
    "resolve_distributed",
    "run_id_for",
]
