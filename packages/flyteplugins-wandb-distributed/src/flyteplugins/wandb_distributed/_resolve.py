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


def resolve_distributed(settings: Mapping[str, Any], topology: Topology, plan: RunPlan) -> RunPlan:
    """Adjust core's single-process ``plan`` (``run_id`` preset to the base id) for this rank. ``topology``
    alone decides (a distributed task's runs are never its parent's), so every rank derives the same ids.

    Raises:
        WandbConfigError: ``run_mode="shared"`` without a base id (ranks could not agree on a run).
    """
    run_mode = settings.get("run_mode", "auto")
    # With one worker, worker scope and global scope name the same set of ranks: keep the simpler ids.
    worker = settings.get("rank_scope", "global") == "worker" and topology.multi_node
    primary = topology.local_rank == 0 if worker else topology.rank == 0
    base = run_id = plan.run_id
    if base is not None and run_mode == "new":
        rank = f"-worker-{topology.worker_index}-rank-{topology.local_rank}" if worker else f"-rank-{topology.rank}"
        run_id = run_id_with_suffix(base, rank)
    elif base is not None and worker:
        run_id = run_id_with_suffix(base, f"-worker-{topology.worker_index}")
    plan.advertise = True
    _no_download(plan, topology)
    if run_mode == "auto" and not primary:
        return _skip(plan, run_id)
    if run_mode == "new" and base is not None:
        # Only run_mode="new" groups its per-rank runs.
        plan.init_kwargs.setdefault("group", f"{base}-worker-{topology.worker_index}" if worker else base)
    if run_mode != "shared":
        plan.primary = True
        return plan.open(run_id, resume=True)
    return _shared(plan, topology, run_id, primary)


def _skip(plan: RunPlan, run_id: str | None) -> RunPlan:
    plan.action = "skip"
    plan.run_id = run_id
    plan.primary = False
    plan.advertise = False
    plan.init_kwargs = {}
    plan.settings = {}
    return plan


def _no_download(plan: RunPlan, topology: Topology) -> None:
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
    label = f"rank-{topology.rank}"
    if topology.multi_node:
        label = f"worker-{topology.worker_index}-{label}"
    mode = plan.init_kwargs.get("mode")
    plan.primary = primary
    # Same id + same second + same wandb dir (ranks of one node) would give every writer the same
    # local run directory: a per-writer suffix keeps their files apart.
    plan.settings["x_sync_dir_suffix"] = label
    plan.settings["x_label"] = label
    if mode in ("disabled", "offline", "dryrun"):
        # wandb's shared mode needs a server. Offline, each rank records its own part of the run under
        # the shared id (like a resumed run); `wandb sync` of every part assembles it. Disabled: no resume.
        return plan.open(run_id, resume=mode != "disabled")
    plan.settings.update(mode="shared", x_primary=primary, x_update_finish_state=primary)
    plan.init_kwargs.pop("mode", None)
    # Shared mode joins the run as it is on the server: no resume lookup is needed (or made).
    plan.init_kwargs.pop("resume", None)
    return plan.open(run_id, resume=False)
