"""Elastic tasks: their shape, W&B links and early checks, and core's SIGTERM handler in each rank.

The Elastic config is read by attribute, so neither flyteplugins-pytorch nor torch is imported. The
handler (``ext.install_sigterm_handler``) finishes a rank's open runs with exit code 143 when the agent
stops the worker group; only the main thread may install it, so it is installed when the task is
decorated in a worker (at import) or when a run opens in the main thread.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from flyteplugins.wandb_core import Wandb, WandbConfigError
from flyteplugins.wandb_core.ext import install_sigterm_handler

from ._topology import detect_topology


def _task_name(task: Any) -> str:
    return str(getattr(task, "name", None) or getattr(getattr(task, "func", None), "__name__", task))


def elastic_shape(task: Any) -> tuple[int, int]:
    """``(max nodes, processes per node)`` from the task's Elastic config (``nnodes="2:4"`` gives 4).

    Raises:
        WandbConfigError: ``nnodes`` or ``nproc_per_node`` cannot be read as positive integers.
    """
    config = getattr(task, "plugin_config", None)
    raw_nodes = getattr(config, "nnodes", 1)
    raw_procs = getattr(config, "nproc_per_node", 1)
    try:
        nodes = int(str(raw_nodes).split(":")[-1])
        procs = int(raw_procs)
    except (TypeError, ValueError):
        raise WandbConfigError(
            f"Task {_task_name(task)!r}: cannot read Elastic(nnodes={raw_nodes!r}, "
            f"nproc_per_node={raw_procs!r}); expected integers (nnodes may be a range like '2:4')."
        ) from None
    if nodes < 1 or procs < 1:
        raise WandbConfigError(
            f"Task {_task_name(task)!r}: Elastic(nnodes={raw_nodes!r}, nproc_per_node={raw_procs!r}) "
            "must be at least 1 each."
        )
    return nodes, procs


def is_distributed_task(task: Any) -> bool:
    """The task's Elastic config asks for more than one process (nodes × processes per node)."""
    nodes, procs = elastic_shape(task)
    return nodes * procs > 1


def links_for_task(task: Any, link_args: Mapping[str, Any], settings: Mapping[str, Any]) -> Sequence[Wandb]:
    """The W&B links of an Elastic task: one per worker for ``rank_scope="worker"`` on several nodes,
    otherwise one (the ordinary link for a one-process task)."""
    del settings  # link_args already carries what the link needs
    nodes, _ = elastic_shape(task)
    link = Wandb(**link_args)
    if not is_distributed_task(task):
        return [link]
    if nodes > 1 and link_args.get("rank_scope") == "worker":
        return [link.for_ranks(i, name=f"Weights & Biases Worker {i}") for i in range(nodes)]
    # Worker 0's index lets a rank_scope="worker" given later through wandb_config still land on a run.
    return [link.for_ranks(0 if nodes > 1 else None)]


def check_task(task: Any, settings: Mapping[str, Any]) -> None:
    """Refuse or warn about settings that cannot work on an Elastic task.

    Raises:
        WandbConfigError: The Elastic config cannot be read (see `elastic_shape()`).
    """
    elastic_shape(task)
    if settings.get("download_logs"):
        warnings.warn(
            f"Task {_task_name(task)!r}: download_logs=True is not supported for distributed "
            "(Elastic) tasks, since every worker would download the same run files; no logs will be "
            "downloaded.",
            RuntimeWarning,
            stacklevel=4,
        )
    # In a torchrun worker, decoration usually happens at import in the main thread: the one place
    # where a SIGTERM handler can be installed when the task body later runs in another thread.
    install_guard()


def _is_torchrun_worker(env: Mapping[str, str]) -> bool:
    try:
        return detect_topology(env) is not None
    except WandbConfigError:  # a launcher's variables we cannot read: the run's own check says so
        return False


def install_guard(env: Mapping[str, str] | None = None) -> bool:
    """Install core's SIGTERM handler in a torchrun worker's main thread. Returns whether it is on."""
    if not _is_torchrun_worker(os.environ if env is None else env):
        return False
    if threading.current_thread() is not threading.main_thread():
        return False  # signal.signal raises anywhere else
    # keep=True: the body may open and close several runs; the handler stays between them.
    return install_sigterm_handler(keep=True)


def on_run_open() -> None:
    """Core's hook: a run opened on this rank (core tracks it already)."""
    install_guard()
