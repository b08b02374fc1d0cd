"""Applying a checkpoint retention policy: deleting versions on the W&B server, pruning the local store.

Online, the versions of the run's checkpoint artifact are listed with the public Api (after the new
one is committed, so it counts) and each dropped one is deleted with ``Artifact.delete``. A version
with a user alias or a registry link is never deleted; when wandb cannot say whether a version is
linked, it is kept. Offline, the copies under ``flyte-checkpoints/`` are removed instead; the W&B
server's versions are then whatever ``wandb sync`` uploads.

Pruning never fails the training step: a version that cannot be deleted is logged and kept.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from typing import Any

from ._artifact_names import STEP_KEY
from ._retention import Retention, Version, is_managed_alias, to_delete

logger = logging.getLogger("flyteplugins.wandb")

INDEX = "checkpoint.json"  # written last into each local checkpoint directory
VALUE_KEY = "value"  # the index's keep_best metric value
ALIASES_KEY = "aliases"  # the index's user aliases


def _user_aliases(aliases: Any) -> bool:
    return any(not is_managed_alias(str(a)) for a in aliases or ())


def _linked(artifact: Any) -> bool:
    try:
        return bool(artifact.linked_artifacts)
    except AttributeError:  # a wandb without Artifact.linked_artifacts: cannot tell, so keep it
        return True
    except Exception as exc:  # a server that cannot say: keep the version rather than lose a link
        logger.warning("cannot read the registry links of %s (%s); keeping it", artifact.name, exc)
        return True


def prune_online(run: Any, name: str, artifact_type: str, policy: Retention, logged: Any) -> list[int]:
    """Delete the versions the policy drops from the server; returns their steps."""
    import wandb

    try:
        logged.wait()  # the new version must be committed to be listed (and to count as the newest)
        api = wandb.Api(overrides={"base_url": str(run.settings.base_url), "entity": run.entity})
        listed = list(api.artifacts(artifact_type, f"{run.entity}/{run.project}/{name}"))
    except Exception as exc:
        logger.warning(
            "checkpoint retention: cannot list the versions of %s (%s); nothing deleted", name, exc
        )
        return []
    metric = policy.best[0] if policy.best else None
    versions = []
    for art in listed:
        meta = art.metadata or {}
        step = meta.get(STEP_KEY)
        if not isinstance(step, int):
            continue  # not saved by save_wandb_checkpoint: not ours to judge
        value = meta.get(metric) if metric else None
        value = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
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
        value = data.get(VALUE_KEY)
        versions.append(
            Version(
                directory,
                int(data["step"]),
                float(value) if isinstance(value, (int, float)) else None,
                protected=_user_aliases(data.get(ALIASES_KEY)),
            )
        )
    removed = []
    for version in to_delete(versions, policy):
        shutil.rmtree(version.key, ignore_errors=True)
        removed.append(version.step)
    if removed:
        logger.info("checkpoint retention: removed the local copies of steps %s under %s", removed, base)
    return removed
