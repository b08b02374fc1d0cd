"""Checkpoint retention (``keep_last``, ``keep_best``): which versions of a run's checkpoint artifact to
keep, and applying it: deleting versions on the W&B server (never one with a user alias or a registry
link) or pruning the local store offline. Pruning never fails the training step.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import weakref
from dataclasses import dataclass
from typing import Any, Literal

from . import _notices
from ._artifact_names import STEP_KEY
from ._validate import WandbConfigError

logger = logging.getLogger("flyteplugins.wandb")

Goal = Literal["min", "max"]
_GOALS = ("min", "max")
# The aliases save_wandb_checkpoint sets itself: a version carrying only these is not "protected".
_MANAGED_ALIAS_RE = re.compile(r"^(latest|step-\d+|v\d+)$")
INDEX = "checkpoint.json"  # written last into each local checkpoint directory
VALUE_KEY = "value"  # the index's keep_best metric value
ALIASES_KEY = "aliases"  # the index's user aliases
# Seconds a save with retention waits for W&B to commit the new version, where the run's wandb
# settings name no finish_timeout: the bound the docs give for a W&B server that dies mid-run.
DEFAULT_COMMIT_WAIT = 60.0
# Runs whose W&B did not commit a checkpoint in time (it died mid-run): their later saves do not wait
# again. Held weakly: nothing outlives the run.
_stalled: weakref.WeakSet[Any] = weakref.WeakSet()


@dataclass(frozen=True)
class Retention:
    """A checked retention policy; inactive (keep everything) when both are None. ``keep_last=None``
    with ``best`` set keeps the best and the newest checkpoint only."""

    keep_last: int | None = None
    best: tuple[str, Goal] | None = None

    @property
    def active(self) -> bool:
        return self.keep_last is not None or self.best is not None


@dataclass(frozen=True)
class Version:
    """One stored checkpoint as the policy sees it."""

    key: Any  # what the caller deletes by (an artifact, a directory)
    step: int
    value: float | None = None  # the keep_best metric, when recorded
    protected: bool = False


def check_retention(where: str, keep_last: Any, keep_best: Any) -> Retention:
    """Validate ``keep_last`` / ``keep_best`` early, naming the argument and what is allowed."""
    if keep_last is not None and (isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 1):
        raise WandbConfigError(
            f"{where}: keep_last must be an int >= 1 (the newest checkpoint is always kept) or None, got {keep_last!r}."
        )
    best: tuple[str, Goal] | None = None
    if keep_best is not None:
        if (
            not isinstance(keep_best, (tuple, list))
            or len(keep_best) != 2
            or not isinstance(keep_best[0], str)
            or not keep_best[0]
            or keep_best[1] not in _GOALS
        ):
            raise WandbConfigError(
                f"{where}: keep_best must be a (metric, goal) pair with goal 'min' or 'max', "
                f"e.g. ('loss', 'min'); got {keep_best!r}."
            )
        best = (keep_best[0], keep_best[1])
    return Retention(keep_last=keep_last, best=best)


def metric_value(where: str, metric: str, metadata: dict[str, Any], summary: Any) -> float:
    """The keep_best metric of the checkpoint being saved: ``metadata[metric]``, else the run's summary."""
    value = metadata.get(metric)
    source = "metadata"
    if value is None and summary is not None:
        try:
            value, source = summary.get(metric), "the run's summary"
        except Exception:  # a summary that cannot be read: treated as missing
            value = None
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
    if policy.best is not None:
        goal = policy.best[1]
        ranked = [v for v in by_step if v.value is not None]
        if ranked:
            # Ties go to the newest: it is the one a resumed run would pick up anyway.
            pick = min if goal == "min" else max
            best = pick(reversed(ranked), key=lambda v: v.value if v.value is not None else 0.0)
            keep.add(id(best))
    return [v for v in by_step if id(v) not in keep and not v.protected]


def _user_aliases(aliases: Any) -> bool:
    return any(not _MANAGED_ALIAS_RE.match(str(a)) for a in aliases or ())


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _linked(artifact: Any) -> bool:
    try:
        return bool(artifact.linked_artifacts)
    except AttributeError:  # a wandb without Artifact.linked_artifacts: cannot tell, so keep it
        return True
    except Exception as exc:  # a server that cannot say: keep the version rather than lose a link
        logger.warning("cannot read the registry links of %s (%s); keeping it", artifact.name, exc)
        return True


def _committed(run: Any, name: str, logged: Any) -> bool:
    """Wait until W&B commits the new version (it must be listed to count as the newest), at most the
    run's ``finish_timeout``; False when it did not, and then for the rest of the run."""
    if run in _stalled:
        return False
    settings = getattr(run, "settings", None)
    wait = float(getattr(settings, "finish_timeout", 0) or DEFAULT_COMMIT_WAIT)
    try:
        logged.wait(timeout=wait)
    except Exception as exc:
        if "timed out" not in str(exc).lower():
            logger.warning("checkpoint retention: %s was not committed (%s); nothing deleted", name, exc)
            return False
        _stalled.add(run)
        _notices.notice(
            f"checkpoint retention: W&B did not commit {name!r} within {wait:g} s (finish_timeout); "
            f"no checkpoint versions are deleted for the rest of run {getattr(run, 'id', '?')!r}, and "
            "its saves no longer wait for W&B."
        )
        return False
    return True


def prune_online(run: Any, name: str, artifact_type: str, policy: Retention, logged: Any) -> list[int]:
    """Delete the versions the policy drops from the server; returns their steps."""
    import wandb

    if not _committed(run, name, logged):
        return []
    try:
        api = wandb.Api(overrides={"base_url": str(run.settings.base_url), "entity": run.entity})
        listed = list(api.artifacts(artifact_type, f"{run.entity}/{run.project}/{name}"))
    except Exception as exc:
        logger.warning("checkpoint retention: cannot list the versions of %s (%s); nothing deleted", name, exc)
        return []
    metric = policy.best[0] if policy.best else None
    versions = []
    for art in listed:
        meta = art.metadata or {}
        step = meta.get(STEP_KEY)
        if not isinstance(step, int):
            continue  # not saved by save_wandb_checkpoint: not ours to judge
        value = _number(meta.get(metric)) if metric else None
        versions.append(Version(art, step, value, protected=_user_aliases(art.aliases)))
    deleted = []
    for version in to_delete(versions, policy):
        art = version.key
        if _linked(art):
            continue
        try:
            art.delete(delete_aliases=True)  # only latest / step-<N> are left on it
        except Exception as exc:
            logger.warning("checkpoint retention: cannot delete %s (%s); keeping it", art.name, exc)
            continue
        deleted.append(version.step)
    if deleted:
        logger.info("checkpoint retention: deleted %s steps %s", name, deleted)
    return deleted


def read_index(directory: str) -> dict[str, Any] | None:
    try:
        with open(os.path.join(directory, INDEX)) as f:
            data = json.load(f)
        int(data["step"])
        return data if isinstance(data, dict) else None
    except (OSError, ValueError, KeyError, TypeError):
        return None  # an interrupted save: no index


def prune_local(base: str, policy: Retention) -> list[int]:
    """Remove the local copies (``<base>/step-<N>/``) the policy drops; returns their steps."""
    try:
        entries = sorted(os.listdir(base))
    except FileNotFoundError:
        return []
    versions = []
    for entry in entries:
        directory = os.path.join(base, entry)
        data = read_index(directory)
        if data is None:
            continue
        value, protected = _number(data.get(VALUE_KEY)), _user_aliases(data.get(ALIASES_KEY))
        versions.append(Version(directory, int(data["step"]), value, protected))
    removed = []
    for version in to_delete(versions, policy):
        shutil.rmtree(version.key, ignore_errors=True)
        removed.append(version.step)
    if removed:
        logger.info("checkpoint retention: removed the local copies of steps %s under %s", removed, base)
    return removed
