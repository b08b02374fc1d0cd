"""Checkpoints as W&B artifacts: retention, restoring the latest (online, local or Flyte storage), rewinding to it."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import shutil
import threading
import weakref
from typing import Any, Literal, NamedTuple

from . import _artifact_names, _compat, _notices, _persist
from ._artifact_names import STEP_KEY, check_aliases, check_artifact_name, check_metadata, checkpoint_name
from ._artifacts import _log_local, registry_link, require_run
from ._registry import check_registry_target
from ._validate import WandbConfigError

logger = logging.getLogger("flyteplugins.wandb")

Goal = Literal["min", "max"]
CHECKPOINT_TYPE = "checkpoint"
STORE_DIR = "flyte-checkpoints"
INDEX = "checkpoint.json"  # written last into each local checkpoint directory
# The aliases save_wandb_checkpoint sets itself: a version carrying only these is not "protected".
_MANAGED_ALIAS_RE = re.compile(r"^(latest|step-\d+|v\d+)$")
DEFAULT_COMMIT_WAIT = 60.0  # s a retention save waits for W&B's commit without finish_timeout (a server dying mid-run)
# Runs whose W&B missed a checkpoint's commit (it died): later saves do not wait. Weak: nothing outlives the run.
_stalled: weakref.WeakSet[Any] = weakref.WeakSet()
_unsupported: set[str] = set()  # base URLs whose server refused a rewind (asked once per process)
_lock = threading.Lock()


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be restored (raised: resuming from a wrong step would be worse)."""


class Checkpoint(NamedTuple):
    """A restored checkpoint: its local ``path`` (file or directory) and the ``step`` it was saved at."""

    path: str
    step: int


class Retention(NamedTuple):
    """A checked retention policy: none (keep all) when both are None; ``best`` alone keeps the best and newest."""

    keep_last: int | None = None
    best: tuple[str, Goal] | None = None

    @property
    def active(self) -> bool:
        return self.keep_last is not None or self.best is not None


class Version(NamedTuple):
    key: Any  # what the caller deletes by (an artifact, a directory)
    step: int
    value: float | None = None  # the keep_best metric, when recorded
    protected: bool = False


def is_primary(env: Any = None) -> bool:
    """Global rank 0 (or not distributed): reads torchrun's RANK so it works without the extra."""
    return str((os.environ if env is None else env).get("RANK", "0")) == "0"


def _store_root(run: Any) -> str:  # run.dir is <wandb dir>/<run folder>/files: every attempt shares <wandb dir>
    wandb_dir = os.path.dirname(os.path.dirname(str(run.dir)))
    return os.path.join(wandb_dir, STORE_DIR, _artifact_names.sanitize_name(str(run.id)))


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
        keep_last: Keep only the newest ``keep_last`` checkpoints (by step), deleting older versions (on W&B online,
            locally offline); never the newest, nor one with a user alias or a registry link.
        keep_best: ``(metric, "min" | "max")``: also keep the best by ``metadata[metric]`` or else the run's summary;
            alone, it keeps the best and the newest.
        registry: Also link this version into ``"wandb-registry-<registry>/<collection>"`` (online only).
        registry_aliases: Aliases of the version in the registry collection.

    Returns:
        The logged ``wandb.Artifact``, or None on a rank that does not save or when W&B stopped answering. With
        retention online, it returns once W&B committed it (at most ``finish_timeout``; after a miss, at once).

    Raises:
        WandbConfigError: Invalid arguments (checked before anything is saved), a ``keep_best`` metric
            without a numeric value, or ``registry=`` in an offline run.
    """
    where = "save_wandb_checkpoint"
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise WandbConfigError(f"{where}: step must be an int >= 0, got {step!r}.")
    extra, meta = check_aliases(where, aliases), check_metadata(where, metadata)
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
    if not all_ranks and not is_primary():
        return None
    run = require_run(where)
    link = registry_link(where, run, registry, registry_aliases)
    return _save(run, local, step, name or checkpoint_name(str(run.id)), extra, meta, policy, link)


def _save(
    run: Any, path: str, step: int, name: str, aliases: list[str], meta: dict[str, Any], policy: Retention, link: Any
) -> Any:
    value = None
    if policy.best is not None:
        value = metric_value("save_wandb_checkpoint", policy.best[0], meta, getattr(run, "summary", None))
        meta[policy.best[0]] = value
    alias_list = ["latest", f"step-{step}", *[a for a in aliases if a not in ("latest", f"step-{step}")]]
    meta[STEP_KEY] = step
    local, copy, offline = path, True, _compat.settings_offline(run)
    if offline:
        dest = os.path.join(_store_root(run), name, f"step-{step}")
        shutil.rmtree(dest, ignore_errors=True)  # the step saved again: this copy replaces it
        os.makedirs(dest)
        local = os.path.join(dest, os.path.basename(path.rstrip("/")) or "checkpoint")
        (shutil.copytree if os.path.isdir(path) else shutil.copy2)(path, local)
        # Retention judges this copy by its index in later attempts too; written last, atomically: a cut copy has none.
        with open(os.path.join(dest, INDEX + ".tmp"), "w") as f:
            json.dump({"step": step, "path": os.path.basename(local), "aliases": aliases, "value": value}, f)
        os.replace(os.path.join(dest, INDEX + ".tmp"), os.path.join(dest, INDEX))
        copy = policy.active  # wandb sync uploads from the logged path, which retention may prune: stage a copy
        # On a cluster, also in the Flyte run's storage: a retry on a fresh pod restores from there.
        _persist.persist_checkpoint(dest, name, step, str(run.id))
    logged = _log_local(
        local, name=name, type=CHECKPOINT_TYPE, aliases=alias_list, metadata=meta, copy=copy, run=run,
        display_name=path, link=link,
    )  # fmt: skip
    if logged is None:
        return None  # W&B stopped answering: not logged (a notice said so), nothing to prune
    if policy.active and not offline:
        _prune_online(run, name, policy, logged)
    elif policy.active:
        base = os.path.join(_store_root(run), name)
        versions = [_version(d, int(i["step"]), i.get("value"), i.get("aliases")) for d, i in _indexed(base)]
        dropped = to_delete(versions, policy)
        for version in dropped:
            shutil.rmtree(version.key, ignore_errors=True)
        if removed := [v.step for v in dropped]:
            logger.info("checkpoint retention: removed the local copies of steps %s under %s", removed, base)
        _persist.forget_checkpoints(name, str(run.id), removed)  # and their copies in Flyte storage
    return logged


def check_retention(where: str, keep_last: Any, keep_best: Any) -> Retention:
    if keep_last is not None and (isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 1):
        raise WandbConfigError(
            f"{where}: keep_last must be an int >= 1 (the newest checkpoint is always kept) or None, got {keep_last!r}."
        )
    best = tuple(keep_best) if isinstance(keep_best, (tuple, list)) and len(keep_best) == 2 else None
    if keep_best is not None and not (best and isinstance(best[0], str) and best[0] and best[1] in ("min", "max")):
        raise WandbConfigError(
            f"{where}: keep_best must be a (metric, goal) pair with goal 'min' or 'max', "
            f"e.g. ('loss', 'min'); got {keep_best!r}."
        )
    return Retention(keep_last=keep_last, best=best)


def metric_value(where: str, metric: str, metadata: dict[str, Any], summary: Any) -> float:
    """The keep_best metric of the checkpoint being saved: ``metadata[metric]``, else the run's summary."""
    value, source = metadata.get(metric), "metadata"
    if value is None and summary is not None:
        with contextlib.suppress(Exception):  # a summary that cannot be read: treated as missing
            value, source = summary.get(metric), "the run's summary"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise WandbConfigError(
            f"{where}: keep_best ranks checkpoints by {metric!r}, but {source} holds {value!r} for it; "
            f"pass metadata={{{metric!r}: <number>}} or log {metric!r} before saving."
        )
    return float(value)


def to_delete(versions: list[Version], policy: Retention) -> list[Version]:
    """The versions the policy drops, oldest first. The newest and protected ones are never among them."""
    if not policy.active or not versions:
        return []
    by_step = sorted(versions, key=lambda v: v.step)
    keep = {id(by_step[-1])}  # the restore target
    if policy.keep_last is not None:  # None with keep_best: the best and the newest only
        keep.update(id(v) for v in by_step[-policy.keep_last :])
    ranked = [v for v in by_step if v.value is not None]
    if policy.best is not None and ranked:
        pick = min if policy.best[1] == "min" else max  # ties go to the newest: a resumed run picks it up anyway
        keep.add(id(pick(reversed(ranked), key=lambda v: v.value if v.value is not None else 0.0)))
    return [v for v in by_step if id(v) not in keep and not v.protected]


def _version(key: Any, step: int, value: Any, aliases: Any) -> Version:
    number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    return Version(key, step, number, protected=any(not _MANAGED_ALIAS_RE.match(str(a)) for a in aliases or ()))


def _delete(art: Any) -> bool:  # delete a version from W&B unless it is linked into a registry (or W&B cannot say)
    try:
        if art.linked_artifacts:
            return False
    except Exception as exc:  # a server that cannot say: keep the version rather than lose a link
        logger.warning("cannot read the registry links of %s (%s); keeping it", art.name, exc)
        return False
    try:
        art.delete(delete_aliases=True)  # only latest / step-<N> are left on it
    except Exception as exc:
        logger.warning("checkpoint retention: cannot delete %s (%s); keeping it", art.name, exc)
        return False
    return True


def _prune_online(run: Any, name: str, policy: Retention, logged: Any) -> None:
    """Delete the versions the policy drops from W&B once it committed the new one (after a miss, never again)."""
    import wandb

    if run in _stalled:
        return
    wait = float(getattr(getattr(run, "settings", None), "finish_timeout", 0) or DEFAULT_COMMIT_WAIT)
    try:
        logged.wait(timeout=wait)
    except Exception as exc:
        if "timed out" not in str(exc).lower():
            logger.warning("checkpoint retention: %s was not committed (%s); nothing deleted", name, exc)
            return
        _stalled.add(run)
        _notices.notice(
            f"checkpoint retention: W&B did not commit {name!r} within {wait:g} s (finish_timeout); "
            f"no checkpoint versions are deleted for the rest of run {getattr(run, 'id', '?')!r}, and "
            "its saves no longer wait for W&B."
        )
        return
    try:
        api = wandb.Api(overrides={"base_url": str(run.settings.base_url), "entity": run.entity})
        listed = list(api.artifacts(CHECKPOINT_TYPE, f"{run.entity}/{run.project}/{name}"))
    except Exception as exc:
        logger.warning("checkpoint retention: cannot list the versions of %s (%s); nothing deleted", name, exc)
        return
    metric = policy.best[0] if policy.best else ""
    metas = [(art, art.metadata or {}) for art in listed]
    # A version without an int step was not saved by save_wandb_checkpoint: not ours to judge.
    versions = [
        _version(a, m[STEP_KEY], m.get(metric), a.aliases) for a, m in metas if isinstance(m.get(STEP_KEY), int)
    ]
    if deleted := [v.step for v in to_delete(versions, policy) if _delete(v.key)]:
        logger.info("checkpoint retention: deleted %s steps %s", name, deleted)


def _indexed(base: str) -> list[tuple[str, dict[str, Any]]]:
    """The local copies ``<base>/step-<N>/`` with their index; one without (an interrupted save) is left out."""
    found = []
    for entry in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            with open(os.path.join(base, entry, INDEX)) as f:
                data = json.load(f)
            int(data["step"])  # only a dict with an int-like step gets past this
            found.append((os.path.join(base, entry), data))
    return found


def _restore_offline(run: Any, name: str) -> Checkpoint | None:
    indexed = _indexed(os.path.join(_store_root(run), name))
    found = [
        Checkpoint(os.path.join(d, i["path"]), int(i["step"])) for d, i in indexed if isinstance(i.get("path"), str)
    ]
    return max((c for c in found if os.path.exists(c.path)), key=lambda c: c.step, default=None)


def restore_wandb_checkpoint(*, name: str | None = None, root: str | None = None) -> Checkpoint | None:
    """The latest checkpoint of the calling task's run (on a retry: the one the previous attempt saved last; go on at
    ``step + 1``), or None when there is none yet.

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
        import wandb

        ref = f"{run.entity}/{run.project}/{name}:latest"
        api = wandb.Api(overrides={"base_url": str(run.settings.base_url), "entity": run.entity})
        if not api.artifact_exists(ref):
            return None
        artifact = run.use_artifact(ref)
        if not isinstance(step := (artifact.metadata or {}).get(STEP_KEY), int):
            raise CheckpointError(f"checkpoint {ref!r} has no integer 'step' in its metadata")
        path = str(artifact.download(root=root))
        if len(entries := os.listdir(path)) == 1 and os.path.isfile(os.path.join(path, entries[0])):
            path = os.path.join(path, entries[0])  # a file checkpoint comes back inside a folder of its own
        found = Checkpoint(path, step)
    if found is not None:
        logger.info("restoring W&B checkpoint %s at step %d", name, found.step)
    return found


def checkpoint_step(wandb: Any, kwargs: dict[str, Any], base_url: str) -> int | None:
    """The step of the run's latest checkpoint on the server, or None (no run, no checkpoint yet)."""
    # wandb.init reads WANDB_PROJECT when no project is passed; a run without either is "uncategorized".
    run_id = kwargs["id"]  # rewind_init asks only for a resumed run with an id
    project = kwargs.get("project") or os.environ.get("WANDB_PROJECT") or "uncategorized"
    try:
        overrides = {"base_url": base_url, **({"entity": kwargs["entity"]} if kwargs.get("entity") else {})}
        api = wandb.Api(overrides=overrides, timeout=10)
        ref = f"{kwargs.get('entity') or api.default_entity}/{project}/{checkpoint_name(str(run_id))}:latest"
        step = (api.artifact(ref).metadata or {}).get(STEP_KEY) if api.artifact_exists(ref) else None
    except Exception as exc:  # the server could not tell: open the run as before
        logger.debug("rewind: cannot read the checkpoint of run %s (%s)", run_id, exc)
        return None
    return step if isinstance(step, int) and not isinstance(step, bool) else None


def rewind_init(wandb_init: Any, kwargs: dict[str, Any], settings: Any, base_url: str) -> Any:
    """``wandb_init(**kwargs)``, rewinding a resumed run to its latest checkpoint where the server can."""
    import wandb

    wants = kwargs.get("resume") == "allow" and kwargs.get("id") and kwargs.get("mode") != "offline"
    shared = getattr(settings, "mode", None) == "shared"
    step = checkpoint_step(wandb, kwargs, base_url) if wants and not shared and base_url not in _unsupported else None
    if step is None:
        return wandb_init(**kwargs, settings=settings)
    rewind = {k: v for k, v in kwargs.items() if k != "resume"} | {"resume_from": f"{kwargs['id']}?_step={step}"}
    try:
        run = wandb_init(**rewind, settings=settings)
    except Exception as exc:
        if "rewind" not in str(exc).lower():
            raise
        with _lock:
            first = base_url not in _unsupported
            _unsupported.add(base_url)
        if first:
            _notices.notice(
                f"this W&B server cannot rewind run {kwargs['id']!r} to its checkpoint at step {step} "
                f"({exc}); resuming it as before: steps logged after the checkpoint by the previous "
                "attempt keep their values."
            )
        return wandb_init(**kwargs, settings=settings)
    logger.info("rewound run %s to its checkpoint at step %d", kwargs["id"], step)
    return run
