"""Rank handling under torchrun / Flyte Elastic (the ``[distributed]`` extra), without importing torch. Users call
`get_distributed_info`; the other public names are core's rank hooks (docs/architecture.md)."""

import dataclasses
import math
import os
import threading
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from flyteplugins.wandb_core import Wandb, WandbConfigError
from flyteplugins.wandb_core.ext import RunPlan, Topology, install_sigterm_handler, run_id_with_suffix

__all__ = [
    "check_task",
    "detect_topology",
    "get_distributed_info",
    "is_distributed_task",
    "links_for_task",
    "on_run_open",
    "resolve_distributed",
]


def _int(env: Mapping[str, str], name: str, default: int | None = None) -> int:
    if not (raw := env.get(name)) or not raw.strip():
        if default is None:
            raise WandbConfigError(f"environment variable {name} is missing")
        return default
    try:
        return int(raw)
    except ValueError:
        raise WandbConfigError(
            f"environment variable {name}={raw!r} is not an integer; torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, "
            "LOCAL_WORLD_SIZE, GROUP_RANK to integers."
        ) from None


def detect_topology(env: Mapping[str, str]) -> Topology | None:
    """The topology ``env`` describes (``WORLD_SIZE`` > 1 and ``RANK``), else None; missing ``LOCAL_*``/``GROUP_*``
    variables default to one node's. Raises `WandbConfigError` for a non-integer or contradictory variable."""
    if env.get("WORLD_SIZE") is None or env.get("RANK") is None or (world_size := _int(env, "WORLD_SIZE")) <= 1:
        return None
    rank = _int(env, "RANK")
    local_world_size = _int(env, "LOCAL_WORLD_SIZE", world_size)
    local_rank = _int(env, "LOCAL_RANK", 0)
    if not 0 <= rank < world_size:
        raise WandbConfigError(f"RANK={rank} is outside 0..WORLD_SIZE-1 (WORLD_SIZE={world_size}).")
    if not 1 <= local_world_size <= world_size:
        raise WandbConfigError(f"LOCAL_WORLD_SIZE={local_world_size} must be between 1 and WORLD_SIZE={world_size}.")
    if not 0 <= local_rank < local_world_size:
        raise WandbConfigError(
            f"LOCAL_RANK={local_rank} is outside 0..LOCAL_WORLD_SIZE-1 (LOCAL_WORLD_SIZE={local_world_size})."
        )
    worker_index = _int(env, "GROUP_RANK", rank // local_world_size)
    num_workers = _int(env, "GROUP_WORLD_SIZE", -(-world_size // local_world_size))
    if not 0 <= worker_index < max(num_workers, 1):
        raise WandbConfigError(f"GROUP_RANK={worker_index} is outside 0..{num_workers - 1} workers.")
    return Topology(rank, local_rank, world_size, local_world_size, worker_index, num_workers)


def get_distributed_info() -> dict[str, Any] | None:
    """This process's place in a distributed job, or ``None`` when not running under torchrun/Elastic: ``{"rank",
    "local_rank", "world_size", "local_world_size", "worker_index", "num_workers"}`` (ints; a worker is a node)."""
    return None if (topology := detect_topology(os.environ)) is None else dataclasses.asdict(topology)


def _task_name(task: Any) -> str:
    return str(getattr(task, "name", None) or getattr(getattr(task, "func", None), "__name__", task))


def elastic_shape(task: Any) -> tuple[int, int]:  # (max nodes, processes per node) of its Elastic config; "2:4" gives 4
    config = getattr(task, "plugin_config", None)
    raw_nodes, raw_procs = getattr(config, "nnodes", 1), getattr(config, "nproc_per_node", 1)
    try:
        nodes, procs = int(str(raw_nodes).split(":")[-1]), int(raw_procs)
    except (TypeError, ValueError):
        nodes = procs = 0  # refused below, with the values as given
    if nodes < 1 or procs < 1:
        raise WandbConfigError(
            f"Task {_task_name(task)!r}: Elastic(nnodes={raw_nodes!r}, nproc_per_node={raw_procs!r}) must be "
            "integers of at least 1 (nnodes may be a range like '2:4')."
        )
    return nodes, procs


def is_distributed_task(task: Any) -> bool:
    """The task's Elastic config asks for more than one process (nodes × processes per node)."""
    return math.prod(elastic_shape(task)) > 1


def links_for_task(task: Any, link_args: Mapping[str, Any], settings: Mapping[str, Any]) -> Sequence[Wandb]:
    """An Elastic task's W&B links: one per worker for ``rank_scope="worker"`` on several nodes, else one."""
    nodes, procs = elastic_shape(task)
    link = Wandb(**link_args)
    if nodes * procs <= 1:
        return [link]
    if nodes > 1 and link_args.get("rank_scope") == "worker":
        return [link.for_ranks(i, name=f"Weights & Biases Worker {i}") for i in range(nodes)]
    # Worker 0's index lets a rank_scope="worker" given later through wandb_config still land on a run.
    return [link.for_ranks(0 if nodes > 1 else None)]


def check_task(task: Any, settings: Mapping[str, Any]) -> None:
    """Refuse an unreadable Elastic config (`WandbConfigError`); warn about settings an Elastic task cannot use."""
    elastic_shape(task)
    if settings.get("download_logs"):
        _warn_no_download(f"Task {_task_name(task)!r}: ", stacklevel=5)
    # A torchrun worker decorates at import, on the main thread: the one place a SIGTERM handler can go in.
    install_guard()


def install_guard(env: Mapping[str, str] | None = None) -> bool:
    """Install core's SIGTERM handler in a torchrun worker's main thread; whether it is on. Core calls it as
    ``on_run_open()`` when a run opened on this rank (core tracks the run already)."""
    try:
        worker = detect_topology(os.environ if env is None else env) is not None
    except WandbConfigError:  # a launcher's variables we cannot read: the run's own check says so
        return False
    if not worker or threading.current_thread() is not threading.main_thread():
        return False  # signal.signal raises outside the main thread
    # keep=True: the body may open and close several runs; the handler stays between them.
    return install_sigterm_handler(keep=True)


on_run_open = install_guard
_warned_download = False


def resolve_distributed(settings: Mapping[str, Any], topology: Topology, plan: RunPlan) -> RunPlan:
    """Adjust core's single-process ``plan`` (``run_id``: the base id) for this rank; ``topology`` alone decides
    (never the parent's run), so every rank derives the same ids.

    Raises:
        WandbConfigError: ``run_mode="shared"`` without a base id (ranks could not agree on a run).
    """
    global _warned_download
    run_mode = settings.get("run_mode", "auto")
    # With one worker, worker scope and global scope name the same set of ranks: keep the simpler ids.
    worker = settings.get("rank_scope", "global") == "worker" and topology.multi_node
    primary = topology.local_rank == 0 if worker else topology.rank == 0
    base = plan.run_id
    suffix = f"-worker-{topology.worker_index}" if worker else ""
    suffix += f"-rank-{topology.local_rank if worker else topology.rank}" if run_mode == "new" else ""
    run_id = run_id_with_suffix(base, suffix) if base is not None and suffix else base
    plan.advertise = True
    if plan.download_logs:
        plan.download_logs = False
        if not _warned_download and topology.rank == 0:
            _warned_download = True
            _warn_no_download("", stacklevel=3)
    if run_mode == "auto" and not primary:
        return dataclasses.replace(
            plan, action="skip", run_id=run_id, primary=False, advertise=False, init_kwargs={}, settings={}
        )
    if run_mode == "new" and base is not None:
        plan.init_kwargs.setdefault("group", f"{base}-worker-{topology.worker_index}" if worker else base)
    plan.primary = primary or run_mode != "shared"
    if run_mode != "shared":
        return plan.open(run_id, resume=True)
    # Shared: every rank writes to its scope's run; one writer owns its final state.
    if run_id is None:
        raise WandbConfigError(
            "run_mode='shared' under torchrun needs a run id every rank agrees on, but this task has no "
            "Flyte run/action name. Run it as a Flyte task, or pass @wandb_init(id=...)."
        )
    label = f"worker-{topology.worker_index}-rank-{topology.rank}" if topology.multi_node else f"rank-{topology.rank}"
    # Ranks of one node (same id, second and wandb dir) would share a run directory: a suffix keeps them apart.
    plan.settings.update(x_sync_dir_suffix=label, x_label=label)
    if (mode := plan.init_kwargs.get("mode")) in ("disabled", "offline", "dryrun"):
        # Shared mode needs a server: offline, each rank records its part under the shared id; `wandb sync` joins them.
        return plan.open(run_id, resume=mode != "disabled")
    plan.settings.update(mode="shared", x_primary=primary, x_update_finish_state=primary)
    plan.init_kwargs.pop("mode", None)
    plan.init_kwargs.pop("resume", None)  # shared mode joins the run as it is on the server
    return plan.open(run_id, resume=False)


def _warn_no_download(task: str, stacklevel: int) -> None:
    warnings.warn(
        f"{task}download_logs=True is not supported for distributed (torchrun/Elastic) tasks: several workers "
        "would download the same run files. Skipping the download.",
        RuntimeWarning,
        stacklevel=stacklevel,
    )
