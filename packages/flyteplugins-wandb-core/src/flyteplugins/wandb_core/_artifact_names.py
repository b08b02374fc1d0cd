"""The artifact helpers' pure logic (names, references, aliases, Flyte lineage); no wandb or flyte.io imports."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from ._validate import WandbConfigError

# W&B's server takes only letters, digits, "-", "_", "."; the SDK lets others through to fail late, at upload.
ARTIFACT_NAME_MAX = 128
_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
_BAD_CHARS_RE = re.compile(r"[^A-Za-z0-9_.\-]+")
_SEPARATORS = ("/", ":")  # of entity/project/name:alias: never in a type or an alias

REGISTRY_PREFIX = "wandb-registry-"  # the project of a W&B Registry: wandb-registry-<registry>
LINEAGE_KEY = "flyte"  # the metadata key holding the Flyte lineage record
STEP_KEY = "step"  # checkpoint metadata: the training step the checkpoint was taken at


def check_artifact_name(where: str, name: Any, argument: str = "name") -> str:
    if not isinstance(name, str):
        raise WandbConfigError(f"{where}: {argument} must be a str, got {type(name).__name__}: {name!r}.")
    if not name:
        raise WandbConfigError(f"{where}: {argument} must not be empty.")
    if len(name) > ARTIFACT_NAME_MAX:
        raise WandbConfigError(
            f"{where}: {argument} is {len(name)} characters long; W&B allows at most {ARTIFACT_NAME_MAX}."
        )
    if not _NAME_RE.match(name):
        bad = " ".join(sorted({c for c in name if not _NAME_RE.match(c)}))
        raise WandbConfigError(
            f"{where}: {argument}={name!r} contains {bad!r}; W&B artifact names may only contain letters, "
            "digits, '-', '_' and '.'."
        )
    return name


def check_artifact_type(where: str, type_: Any) -> str:
    if not isinstance(type_, str) or not type_:
        raise WandbConfigError(f"{where}: type must be a non-empty str, got {type_!r}.")
    if any(sep in type_ for sep in _SEPARATORS) or len(type_) > ARTIFACT_NAME_MAX:
        raise WandbConfigError(
            f"{where}: type={type_!r} is not a valid W&B artifact type: at most {ARTIFACT_NAME_MAX} "
            "characters, without '/' or ':'."
        )
    if type_.startswith("wandb-"):  # W&B's own types (wandb refuses them less helpfully)
        raise WandbConfigError(f"{where}: type={type_!r} is reserved by W&B (types starting with 'wandb-').")
    return type_


def check_aliases(where: str, aliases: Any) -> list[str]:
    """A list of aliases (None: none); a single str is refused so that "best" never becomes b,e,s,t."""
    if aliases is None:
        return []
    if isinstance(aliases, str) or not isinstance(aliases, (list, tuple, set, frozenset)):
        raise WandbConfigError(f"{where}: aliases must be a list of str, got {type(aliases).__name__}: {aliases!r}.")
    for alias in aliases:
        if not isinstance(alias, str) or not alias or any(sep in alias for sep in _SEPARATORS):
            raise WandbConfigError(
                f"{where}: alias {alias!r} is not valid: aliases are non-empty str without '/' or ':'."
            )
    return list(dict.fromkeys(aliases))


def check_metadata(where: str, metadata: Any) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict) or not all(isinstance(k, str) for k in metadata):
        raise WandbConfigError(f"{where}: metadata must be a dict with str keys, got {metadata!r}.")
    if LINEAGE_KEY in metadata:
        raise WandbConfigError(
            f"{where}: metadata key {LINEAGE_KEY!r} is reserved for the Flyte lineage the helper records."
        )
    return dict(metadata)


def name_from_path(path: str) -> str:  # a valid artifact name from a file or directory name (model.pt stays)
    base = path.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1]
    return (_BAD_CHARS_RE.sub("-", base).strip("-.") or "artifact")[:ARTIFACT_NAME_MAX]


def sanitize_name(text: str) -> str:  # any text as a valid artifact name (for names built from run ids and task names)
    return (_BAD_CHARS_RE.sub("-", text).strip("-") or "artifact")[:ARTIFACT_NAME_MAX]


def checkpoint_name(run_id: str) -> str:  # the default name of a run's checkpoints (save, restore, rewind agree)
    return sanitize_name(f"checkpoint-{run_id}")


class ArtifactRef(NamedTuple):  # a parsed [[entity/]project/]name[:alias] reference
    name: str
    alias: str = "latest"
    project: str | None = None
    entity: str | None = None

    def path(self, entity: str | None = None, project: str | None = None) -> str:
        """The full reference, the run's entity/project filling gaps (wandb finds a registry's entity, the org)."""
        registry = (self.project or "").startswith(REGISTRY_PREFIX)
        parts = (self.entity or (None if registry else entity), self.project or project, f"{self.name}:{self.alias}")
        return "/".join(x for x in parts if x)


def parse_artifact_ref(where: str, ref: Any) -> ArtifactRef:
    if not isinstance(ref, str) or not ref.strip():
        raise WandbConfigError(
            f"{where}: the artifact reference must be a str like 'entity/project/name:alias', got {ref!r}."
        )
    body, sep, alias = ref.rpartition(":") if ":" in ref else (ref, "", "")
    if sep and (not alias or "/" in alias):
        raise WandbConfigError(f"{where}: {ref!r} has an empty or invalid alias after ':'.")
    parts = body.split("/")
    if len(parts) > 3 or any(not p for p in parts):
        raise WandbConfigError(
            f"{where}: {ref!r} is not an artifact reference; write 'name', 'name:alias', "
            "'project/name:alias' or 'entity/project/name:alias'."
        )
    name = check_artifact_name(where, parts[-1], "the artifact name")
    entity, project = [None, None, *parts[:-1]][-2:]  # those of the two that are given
    return ArtifactRef(name=name, alias=alias or "latest", project=project, entity=entity)


def flyte_lineage(ctx: Any, url: str | None = None) -> dict[str, Any]:
    """The artifact metadata's record of the Flyte action (``ctx``: ``flyte.ctx()``) that logged or used it."""
    if not ctx:
        return {"in_task": False}
    action = getattr(ctx, "action", None)
    fields = {"run_name": "run_name", "action_name": "name", "project": "project", "domain": "domain"}  # key: attribute
    record = {key: getattr(action, attr, None) for key, attr in fields.items()}
    record.update(mode=getattr(ctx, "mode", None), url=url or None)
    return {"in_task": True, **{k: v for k, v in record.items() if v is not None}}
