"""Distributed-training support for ``flyteplugins-wandb``: rank handling under torchrun / Flyte Elastic.

Installed with ``pip install 'flyteplugins-wandb[distributed]'``. Nothing to call: ``@wandb_init``
(from ``flyteplugins.wandb``) finds this package when a task runs with ``WORLD_SIZE > 1`` and applies
the ``run_mode`` × ``rank_scope`` matrix:

- ``"auto"``: global rank 0 logs (``rank_scope="global"``), or local rank 0 of each worker
  (``"worker"``); every other rank gets ``None`` from ``get_wandb_run()`` and starts no wandb process.
- ``"shared"``: every rank writes to one run (or one per worker) in W&B shared mode; one primary per
  run finishes it, every writer is labelled ``rank-{r}`` / ``worker-{w}-rank-{r}``.
- ``"new"``: one run per rank, grouped globally (or per worker).

``get_distributed_info()`` (also importable from ``flyteplugins.wandb``) describes this process's place.

Core imports this module lazily and calls six of its functions: ``check_task``, ``links_for_task``,
``is_distributed_task``, ``detect_topology``, ``resolve_distributed`` and ``on_run_open`` (when and with
what: the docstring of core's ``_extras``). Renaming one of them breaks core.
"""

from __future__ import annotations

from ._guard import install_guard, on_run_open
from ._resolve import group_for, is_scope_primary, resolve_distributed, run_id_for
from ._task import check_task, elastic_shape, is_distributed_task, links_for_task
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
