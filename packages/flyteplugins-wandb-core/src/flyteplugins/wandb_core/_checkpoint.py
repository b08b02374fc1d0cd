"""Checkpoints as W&B artifacts (``checkpoint-<run id>``, aliases ``latest`` and ``step-<N>``), and
resuming from the latest one on a retry or restart: online from the server, offline from a local
store (``<wandb dir>/flyte-checkpoints/``) or, on a fresh pod, the Flyte run's storage.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from typing import Any, NamedTuple

from . import _compat, _persist
from ._artifact_names import (
    STEP_KEY,
    check_aliases,
    check_artifact_name,
    check_metadata,
    checkpoint_name,
    sanitize_name,
)
from ._artifacts import _log_local, registry_link, require_run
from ._registry import check_registry_target
from ._retention import (
    ALIASES_KEY,
    INDEX,
    VALUE_KEY,
    Goal,
    Retention,
    check_retention,
    metric_value,
    prune_local,
    prune_online,
    read_index,
)
from ._validate import WandbConfigError

logger = logging.getLogger("flyteplugins.wandb")

CHECKPOINT_TYPE = "checkpoint"
STORE_DIR = "flyte-checkpoints"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be restored (raised: resuming from a wrong step would be worse)."""


class Checkpoint(NamedTuple):
    """A restored checkpoint: its local ``path`` (file or directory) and the ``step`` it was saved at."""

    path: str
    step: int


def is_primary(env: Any = None) -> bool:
    """Global rank 0 (or not distributed): reads torchrun's RANK so it works without the extra."""
    env = os.environ if env is None else env
    return str(env.get("RANK", "0")) == "0"


def _store_root(run: Any) -> str:
    # run.dir is <wandb dir>/<offline-run-...>/files: every attempt in this directory shares <wandb dir>.
    wandb_dir = os.path.dirname(os.path.dirname(str(run.dir)))
    return os.path.join(wandb_dir, STORE_DIR, sanitize_name(str(run.id)))


def _keep_locally(run: Any, name: str, path: str, step: int, aliases: list[str], value: float | None) -> str:
    """Copy the checkpoint into the local store (for offline restore); returns the copy's path."""
    dest = os.path.join(_store_root(run), name, f"step-{step}")
    if os.path.exists(dest):
        shutil.rmtree(dest)
    os.makedirs(dest)
    target = os.path.join(dest, os.path.basename(path.rstrip("/")) or "checkpoint")
    if os.path.isdir(path):
        shutil.copytree(path, target)
    else:
        shutil.copy2(path, target)
    # The aliases and the keep_best value let retention judge this copy in a later attempt too.
    index = {"step": step, "path": os.path.basename(target), ALIASES_KEY: aliases, VALUE_KEY: value}
    # Written last, atomically: a process killed mid-copy leaves no index, so restore skips it.
    tmp = os.path.join(dest, INDEX + ".tmp")
    with open(tmp, "w") as f:
        json.dump(index, f)
    os.replace(tmp, os.path.join(dest, INDEX))
    return target


def save_wandb_checkpoint(
    path: str | os.PathLike[str],
    step: int,
    *,
    name: str | None = None,
    aliases: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    all_ranks: bool = False,
    keep_last: int | None = None,
    keep_best: tuple[str, Goal] | None = None,
    registry: str | None = None,
    registry_aliases: list[str] | None = None,
) -> Any:
    """Save a checkpoint file or directory as a W&B artifact of the calling task's run.

    Args:
        path: Local checkpoint file or directory (copied, so it may be overwritten right after).
        step: The training step it holds; `restore_wandb_checkpoint` returns it.
        name: Artifact name; default ``checkpoint-<run id>``.
        aliases: Extra aliases besides ``latest`` and ``step-<step>`` (e.g. ``["best"]``).
        metadata: Extra metadata (``step`` and ``flyte`` are filled in).
        all_ranks: Under torchrun only global rank 0 saves (others return None) unless True.
        keep_last: Keep only the newest ``keep_last`` checkpoints of this artifact (by step) and
            delete older versions: on the W&B server online, the local copies offline. Versions with
            a user alias (``aliases=``) or a registry link are never deleted, nor the newest one.
        keep_best: ``(metric, "min" | "max")``: also keep the best checkpoint by ``metric``, read
            from ``metadata[metric]`` or else the run's summary (and recorded in the metadata).
            Alone (without ``keep_last``) it keeps the best and the newest.
        registry: Also link this version into a W&B Registry collection,
            ``"wandb-registry-<registry>/<collection>"`` (see `link_wandb_artifact`; online only).
        registry_aliases: Aliases of the version in the registry collection.

    Returns:
        The logged ``wandb.Artifact``, or None on a rank that does not save (and when W&B stopped
        answering the online run mid-run: not logged, one ``wandb:`` line says so). With ``keep_last``
        or ``keep_best`` online, the call returns once the upload is committed (to count it), waiting
        at most the run's ``finish_timeout``; after a commit W&B did not make in that time, the run's
        later saves neither wait nor delete versions.

    Raises:
        WandbConfigError: For invalid arguments (checked before anything is saved), a ``keep_best``
            metric without a numeric value, or ``registry=`` in an offline run.
    """
    where = "save_wandb_checkpoint"
    save = _checked_save(where, path, step, name, aliases, metadata, all_ranks, keep_last, keep_best, registry)
    if not all_ranks and not is_primary():
        return None
    run = require_run(where)
    return _save(run, save, registry_link(where, run, registry, registry_aliases))


class _Save(NamedTuple):
    """A checked `save_wandb_checkpoint` call."""

    path: str
    step: int
    name: str | None
    aliases: list[str]
    metadata: dict[str, Any]
    policy: Retention


def _checked_save(
    where: str,
    path: str | os.PathLike[str],
    step: Any,
    name: str | None,
    aliases: list[str] | None,
    metadata: dict[str, Any] | None,
    all_ranks: Any,
    keep_last: int | None,
    keep_best: tuple[str, Goal] | None,
    registry: str | None,
) -> _Save:
    """Every argument checked before anything is saved (each error names its argument)."""
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise WandbConfigError(f"{where}: step must be an int >= 0, got {step!r}.")
    extra = check_aliases(where, aliases)
    meta = check_metadata(where, metadata)
    if STEP_KEY in meta:
        raise WandbConfigError(f"{where}: metadata key {STEP_KEY!r} is set from the step argument.")
    if name is not None:
        check_artifact_name(where, name)
    if not isinstance(all_ranks, bool):
        raise WandbConfigError(f"{where}: all_ranks must be True or False, got {all_ranks!r}.")
    policy = check_retention(where, keep_last, keep_best)
    if registry is not None:
        check_registry_target(where, registry)
    local = os.fspath(path)
    if not os.path.exists(local):
        raise WandbConfigError(f"{where}: {local!r} does not exist.")
    return _Save(local, step, name, extra, meta, policy)


def _save(run: Any, save: _Save, link: Any) -> Any:
    """Log the checkpoint to ``run`` (offline: from the local store), then apply the retention policy."""
    where, step, policy, meta = "save_wandb_checkpoint", save.step, save.policy, dict(save.metadata)
    value = None
    if policy.best is not None:
        metric = policy.best[0]
        value = metric_value(where, metric, meta, getattr(run, "summary", None))
        meta[metric] = value
    name = save.name or checkpoint_name(str(run.id))
    alias_list = ["latest", f"step-{step}", *[a for a in save.aliases if a not in ("latest", f"step-{step}")]]
    meta[STEP_KEY] = step
    local, copy, offline = save.path, True, _compat.settings_offline(run)
    if offline:
        kept = _keep_locally(run, name, local, step, save.aliases, value)
        # wandb sync uploads an offline artifact from where it was logged: with retention the store
        # copy may be pruned before that, so wandb stages its own copy (removed after the sync).
        local, copy = kept, policy.active
        # On a cluster, also in the Flyte run's storage: a retry on a fresh pod restores from there.
        _persist.persist_checkpoint(os.path.dirname(kept), name, step, str(run.id))
    logged = _log_local(
        local, name=name, type=CHECKPOINT_TYPE, aliases=alias_list, metadata=meta, copy=copy, run=run,
        display_name=save.path, link=link,
    )  # fmt: skip
    if logged is None:
        return None  # W&B stopped answering: not logged (a notice said so), nothing to prune
    if policy.active:
        if offline:
            removed = prune_local(os.path.join(_store_root(run), name), policy)
            _persist.forget_checkpoints(name, str(run.id), removed)  # and their copies in Flyte storage
        else:
            prune_online(run, name, CHECKPOINT_TYPE, policy, logged)
    return logged


def _restore_offline(run: Any, name: str) -> Checkpoint | None:
    base = os.path.join(_store_root(run), name)
    try:
        entries = os.listdir(base)
    except FileNotFoundError:
        return None
    found = []
    for entry in entries:
        data = read_index(os.path.join(base, entry))
        if data is not None and isinstance(data.get("path"), str):  # else an interrupted save: no index
            found.append(Checkpoint(os.path.join(base, entry, data["path"]), int(data["step"])))
    return max((c for c in found if os.path.exists(c.path)), key=lambda c: c.step, default=None)


def _restore_online(run: Any, name: str, root: str | None) -> Checkpoint | None:
    import wandb

    ref = f"{run.entity}/{run.project}/{name}:latest"
    api = wandb.Api(overrides={"base_url": str(run.settings.base_url), "entity": run.entity})
    if not api.artifact_exists(ref):
        return None
    artifact = run.use_artifact(ref)
    step = (artifact.metadata or {}).get(STEP_KEY)
    if not isinstance(step, int):
        raise CheckpointError(f"checkpoint {ref!r} has no integer 'step' in its metadata")
    path = str(artifact.download(root=root))
    entries = os.listdir(path)
    # A file checkpoint comes back as a directory holding that one file: return the file itself.
    if len(entries) == 1 and os.path.isfile(os.path.join(path, entries[0])):
        path = os.path.join(path, entries[0])
    return Checkpoint(path, step)


def restore_wandb_checkpoint(*, name: str | None = None, root: str | None = None) -> Checkpoint | None:
    """The latest checkpoint of the calling task's run, or None when there is none yet.

    On a retry attempt, an Elastic restart or after preemption (the same W&B run, resumed) this is the
    checkpoint the previous attempt saved last; continue training at ``step + 1``.

    Args:
        name: The artifact name given to `save_wandb_checkpoint` (default ``checkpoint-<run id>``).
        root: Where to download it online (default: wandb's artifact directory).
    """
    where = "restore_wandb_checkpoint"
    if name is not None:
        check_artifact_name(where, name)
    run = require_run(where)
    name = name or checkpoint_name(str(run.id))
    if _compat.settings_offline(run):
        found = _restore_offline(run, name)
        if found is None and _persist.fetch_checkpoint(name, str(run.id), _store_root(run)):
            found = _restore_offline(run, name)  # a fresh pod: the last one kept in Flyte's storage
    else:
        found = _restore_online(run, name, root)
    if found is not None:
        logger.info("restoring W&B checkpoint %s at step %d", name, found.step)
    return found
