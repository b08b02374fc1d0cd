"""Linking logged artifact versions into the W&B Registry (refused offline: wandb cannot link there)."""

from __future__ import annotations

import logging
import re
from typing import Any, NamedTuple

from . import _compat
from ._artifact_names import REGISTRY_PREFIX, check_aliases, check_artifact_name, parse_artifact_ref
from ._validate import WandbConfigError

logger = logging.getLogger("flyteplugins.wandb")

_REGISTRY_NAME_RE = re.compile(r"^[A-Za-z0-9_\-]+$")
_FORM = "'wandb-registry-<registry>/<collection>' (for example 'wandb-registry-model/my-model')"


class RegistryTarget(NamedTuple):  # a parsed registry collection: [<org>/]wandb-registry-<registry>/<collection>
    registry: str
    collection: str
    org: str | None = None

    def path(self) -> str:
        return f"{self.org + '/' if self.org else ''}{REGISTRY_PREFIX}{self.registry}/{self.collection}"


def check_registry_target(where: str, target: Any, argument: str = "registry") -> RegistryTarget:
    """Parse a registry collection path, or raise a `WandbConfigError` naming the form it must take."""
    if not isinstance(target, str) or not target:
        raise WandbConfigError(f"{where}: {argument} must be a str like {_FORM}, got {target!r}.")
    if ":" in target:
        raise WandbConfigError(
            f"{where}: {argument}={target!r} names a collection, not a version: drop the ':...' and "
            "pass the aliases separately."
        )
    parts = target.split("/")
    if len(parts) not in (2, 3) or not parts[-2].startswith(REGISTRY_PREFIX):
        raise WandbConfigError(f"{where}: {argument}={target!r} is not a registry collection; write {_FORM}.")
    registry = parts[-2][len(REGISTRY_PREFIX) :]
    if not _REGISTRY_NAME_RE.match(registry):
        raise WandbConfigError(
            f"{where}: {argument}={target!r}: the registry name {registry!r} may only contain letters, "
            "digits, '-' and '_'."
        )
    collection = check_artifact_name(where, parts[-1], f"the collection name in {argument}")
    if len(parts) == 3 and not parts[0]:
        raise WandbConfigError(f"{where}: {argument}={target!r} has an empty organization before '/'.")
    return RegistryTarget(registry=registry, collection=collection, org=parts[0] if len(parts) == 3 else None)


def check_link_args(where: str, run: Any, target: Any, aliases: Any) -> tuple[RegistryTarget, list[str]]:
    """Check a link before anything is logged: target, aliases, an online run, a wandb that links."""
    parsed = check_registry_target(where, target)
    alias_list = check_aliases(where, aliases)
    if _compat.settings_offline(run):
        raise WandbConfigError(
            f"{where}: the run {run.id!r} is offline and wandb cannot link an artifact to the W&B Registry "
            "from an offline run (nor replay a link at 'wandb sync'). Run this task online, or log the "
            "artifact offline and link it after syncing (wandb.Api().artifact(...).link(...))."
        )
    import wandb

    if not (callable(getattr(run, "link_artifact", None)) and callable(getattr(wandb.Artifact, "link", None))):
        raise WandbConfigError(
            f"{where}: linking to the W&B Registry needs a wandb with Artifact.link (wandb >= 0.30); "
            f"this is wandb {getattr(wandb, '__version__', '?')}."
        )
    return parsed, alias_list


def link_logged(run: Any, artifact: Any, target: RegistryTarget, aliases: list[str]) -> Any:
    linked = run.link_artifact(artifact, target.path(), aliases=aliases or None)
    logger.info("linked artifact %s to %s (aliases %s)", getattr(artifact, "name", "?"), target.path(), aliases)
    return linked


def link_wandb_artifact(artifact: Any, registry: str, aliases: list[str] | None = None) -> Any:
    """Link an artifact version of the calling task's run into a W&B Registry collection.

    The collection gets a new version pointing at it, carrying ``aliases`` (moved here from other
    versions) and ``latest``; fetch it with ``use_wandb_artifact("wandb-registry-<registry>/<collection>:<alias>")``.
    Waits until the artifact is committed; needs an online run (link after ``wandb sync`` otherwise).

    Args:
        artifact: What `log_wandb_artifact` or `save_wandb_checkpoint` returned, or a reference to a
            version already logged (``"name:alias"``, ``"project/name:v3"``, ...).
        registry: ``"wandb-registry-<registry>/<collection>"``, optionally ``"<org>/"`` in front.
        aliases: Aliases in the collection, e.g. ``["staging"]``.

    Returns:
        The linked ``wandb.Artifact`` (its ``qualified_name`` is the registry version).

    Raises:
        WandbConfigError: Outside a ``@wandb_init`` task, offline, or for an invalid path or alias.
    """
    from ._artifacts import require_run

    where = "link_wandb_artifact"
    ref = parse_artifact_ref(where, artifact) if isinstance(artifact, str) else None
    if ref is None and not (hasattr(artifact, "name") and hasattr(artifact, "type")):
        raise WandbConfigError(
            f"{where}: artifact must be what log_wandb_artifact returned (a wandb.Artifact) or a reference "
            f"like 'name:alias', got {type(artifact).__name__}."
        )
    check_registry_target(where, registry)
    check_aliases(where, aliases)
    run = require_run(where)
    target, alias_list = check_link_args(where, run, registry, aliases)
    if ref is not None:
        artifact = run.use_artifact(ref.path(getattr(run, "entity", None), getattr(run, "project", None)))
    return link_logged(run, artifact, target, alias_list)
