"""The run_mode × rank_scope matrix (docs/distributed.md): which ranks open which W&B runs, with which ids
and groups. Pure, so every cell is table-tested without processes.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from flyteplugins.wandb_core import WandbConfigError
from flyteplugins.wandb_core.ext import RunPlan, Topology, run_id_with_suffix

_warned_download = False


def _worker_scoped(settings: Mapping[str, Any], topology: Topology) -> bool:
    # With one worker, worker scope and global scope name the same set of ranks: keep the simpler ids.
    return settings.get("rank_scope", "global") == "worker" and topology.multi_node


def _label(topology: Topology) -> str:
    if topology.multi_node:
        return f"worker-{topology.worker_index}-rank-{topology.rank}"
    return f"rank-{topology.rank}"


def run_id_for(settings: Mapping[str, Any], topology: Topology, base: str) -> str:
    """The W&B run id this rank writes to (or, for a rank that does not log, its scope's run)."""
    run_mode = settings.get("run_mode", "auto")
    worker = _worker_scoped(settings, topology)
    if run_mode == "new":
        if worker:
            return run_id_with_suffix(base, f"-worker-{topology.worker_index}-rank-{topology.local_rank}")
        return run_id_with_suffix(base, f"-rank-{topology.rank}")
    return run_id_with_suffix(base, f"-worker-{topology.worker_index}") if worker else base


def group_for(settings: Mapping[str, Any], topology: Topology, base: str) -> str | None:
    """The W&B group of this rank's run: only ``run_mode="new"`` groups its per-rank runs."""
    if settings.get("run_mode", "auto") != "new":
        return None
    return f"{base}-worker-{topology.worker_index}" if _worker_scoped(settings, topology) else base


def is_scope_primary(settings: Mapping[str, Any], topology: Topology) -> bool:
    """Global rank 0, or local rank 0 of each worker under worker scope."""
    return topology.local_rank == 0 if _worker_scoped(settings, topology) else topology.rank == 0


def _skip(plan: RunPlan, run_id: str | None) -> RunPlan:
    plan.action = "skip"
    plan.run_id = run_id
    plan.primary = False
    plan.advertise = False
    plan.init_kwargs = {}
    plan.settings = {}
    return plan


def resolve_distributed(settings: Mapping[str, Any], topology: Topology, plan: RunPlan) -> RunPlan:
    """Adjust core's single-process ``plan`` (``run_id`` preset to the base id) for this rank.

    ``topology`` alone decides (a distributed task's runs are never its parent's), so every rank
    derives the same ids without talking to the others.

    Raises:
        WandbConfigError: ``run_mode="shared"`` without a base id (ranks could not agree on a run).
    """
    run_mode = settings.get("run_mode", "auto")
    base = plan.run_id
    plan.advertise = True
    _no_download(plan, topology)
    run_id = run_id_for(settings, topology, base) if base is not None else None
    primary = is_scope_primary(settings, topology)
    if run_mode == "auto":
        if not primary:
            return _skip(plan, run_id)
        plan.primary = True
        return plan.open(run_id, resume=True)
    if run_mode == "new":
        plan.primary = True
        group = group_for(settings, topology, base) if base is not None else None
        if group is not None:
            plan.init_kwargs.setdefault("group", group)
        return plan.open(run_id, resume=True)
    return _shared(plan, topology, run_id, primary)


def _no_download(plan: RunPlan, topology: Topology) -> None:
    """Turn ``download_logs`` off: several workers would download the same run files (warned once)."""
    global _warned_download
    if not plan.download_logs:
        return
    plan.download_logs = False
    if not _warned_download and topology.rank == 0:
        _warned_download = True
        warnings.warn(
            "download_logs=True is not supported for distributed (torchrun/Elastic) tasks: several "
            "workers would download the same run files. Skipping the download.",
            RuntimeWarning,
            stacklevel=3,
        )


def _shared(plan: RunPlan, topology: Topology, run_id: str | None, primary: bool) -> RunPlan:
    """``run_mode="shared"``: every rank writes to its scope's run; one writer owns its final state."""
    if run_id is None:
        raise WandbConfigError(
            "run_mode='shared' under torchrun needs a run id every rank agrees on, but this task has no "
            "Flyte run/action name. Run it as a Flyte task, or pass @wandb_init(id=...)."
        )
    label = _label(topology)
    mode = plan.init_kwargs.get("mode")
    plan.primary = primary
    # Same id + same second + same wandb dir (ranks of one node) would give every writer the same
    # local run directory: a per-writer suffix keeps their files apart.
    plan.settings["x_sync_dir_suffix"] = label
    plan.settings["x_label"] = label
    if mode == "disabled":
        return plan.open(run_id, resume=False)
    if mode in ("offline", "dryrun"):
        # wandb's shared mode needs a server. Offline, each rank records its own part of the run under
        # the shared id (like a resumed run); `wandb sync` of every part assembles it.
        return plan.open(run_id, resume=True)
    plan.settings.update(mode="shared", x_primary=primary, x_update_finish_state=primary)
    plan.init_kwargs.pop("mode", None)
    # Shared mode joins the run as it is on the server: no resume lookup is needed (or made).
    plan.init_kwargs.pop("resume", None)
    return plan.open(run_id, resume=False)
