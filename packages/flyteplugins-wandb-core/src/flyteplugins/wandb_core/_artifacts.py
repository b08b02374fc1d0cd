"""Flyte ``File``/``Dir`` <-> W&B artifacts, with Flyte lineage on both sides (docs/artifacts.md)."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import tempfile
from collections.abc import Callable
from typing import Any, Literal

import flyte

from . import _artifact_names, _compat, _notices, _report
from ._registry import RegistryTarget, check_link_args, check_registry_target, link_logged
from ._scope import console_url
from ._state import current, get_wandb_run
from ._validate import WandbConfigError, WandbTrackingError

logger = logging.getLogger("flyteplugins.wandb")

DEFAULT_TYPE = "dataset"
_Link = tuple[RegistryTarget, list[str]]  # a checked registry= link: the collection and its aliases


def require_run(where: str) -> Any:
    if (run := get_wandb_run()) is not None:
        return run
    if (active := current()) is not None and active.run is None:
        raise WandbConfigError(
            f"{where}: this rank or scope does not log to W&B (only the logging ranks have a run); "
            "call it where get_wandb_run() returns a run."
        )
    raise WandbConfigError(
        f"{where} needs the W&B run of the calling task: call it inside a task (or function) decorated "
        "with @wandb_init, where get_wandb_run() returns the run."
    )


def _flyte_io_kind(obj: Any) -> str | None:  # "file"/"dir" for flyte.io objects (importing flyte.io only for them)
    if not (type(obj).__module__ or "").startswith("flyte.io"):
        return None
    import flyte.io

    return "file" if isinstance(obj, flyte.io.File) else "dir" if isinstance(obj, flyte.io.Dir) else None


def _log_local(
    path: str,
    *,
    name: str | None,
    type: str,
    aliases: list[str],
    metadata: dict[str, Any],
    copy: bool,
    run: Any,
    display_name: str | None = None,
    link: _Link | None = None,
) -> Any:
    import wandb

    name = name or _artifact_names.name_from_path(display_name or path)
    ctx = flyte.ctx()
    meta = {**metadata, _artifact_names.LINEAGE_KEY: _artifact_names.flyte_lineage(ctx, console_url(ctx))}
    artifact = wandb.Artifact(name=name, type=type, metadata=meta)
    # "mutable" stages a copy, so the next checkpoint cannot change what uploads; "immutable": a path we own.
    policy: Literal["mutable", "immutable"] = "mutable" if copy else "immutable"
    if os.path.isdir(path):
        artifact.add_dir(path, policy=policy)
    else:
        artifact.add_file(path, name=os.path.basename(display_name or path), policy=policy)
    try:
        logged = run.log_artifact(artifact, aliases=aliases or None)
    except Exception as exc:
        if not _compat.wandb_unreachable(exc):
            raise
        # W&B died mid-run: as when it is unreachable at the start, the task goes on unless on_error="raise".
        message = f"W&B stopped answering run {getattr(run, 'id', '?')!r}; artifact {name!r} was not logged ({exc})"
        if (active := current()) is not None and active.raises:
            raise WandbTrackingError(message) from exc
        _notices.notice(message + "; the task goes on.")
        return None
    logger.debug("logged artifact %s (%s) from %s", name, type, path)
    logged = logged if logged is not None else artifact
    _report.note_artifact(run, logged, "logged")
    if link is not None:
        link_logged(run, logged, *link)
    return logged


def registry_link(where: str, run: Any, registry: str | None, registry_aliases: list[str] | None) -> _Link | None:
    """The checked ``registry=`` / ``registry_aliases=`` of a log call (None: no link)."""
    if registry is None:
        if registry_aliases is not None:
            raise WandbConfigError(f"{where}: registry_aliases is set but registry is not; pass registry= too.")
        return None
    return check_link_args(where, run, registry, registry_aliases)


def _log_prelude(
    obj: Any,
    name: str | None = None,
    type: str = DEFAULT_TYPE,
    aliases: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    registry: str | None = None,
    registry_aliases: list[str] | None = None,
) -> tuple[str | None, str, dict[str, Any]]:
    """Both forms' checks (argument errors first): (local path or None, where to download it, `_log_local` kwargs)."""
    where = "log_wandb_artifact"
    _artifact_names.check_artifact_type(where, type)
    if name is not None:
        _artifact_names.check_artifact_name(where, name)
    alias_list, meta = _artifact_names.check_aliases(where, aliases), _artifact_names.check_metadata(where, metadata)
    if registry is not None:
        check_registry_target(where, registry)
    if isinstance(obj, (str, os.PathLike)):
        local: str | None = os.fspath(obj)
        if not os.path.exists(obj):
            raise WandbConfigError(f"{where}: {local!r} does not exist.")
    elif _flyte_io_kind(obj) is None:
        raise WandbConfigError(
            f"{where}: expected a flyte.io.File, a flyte.io.Dir or a local path, got {obj.__class__.__name__}."
        )
    else:  # a File/Dir already on this machine is logged from where it is
        local = str(obj.path).removeprefix("file://")
        local = local if os.path.exists(local) else None
    run = require_run(where)
    link = registry_link(where, run, registry, registry_aliases)
    kwargs = {"name": name, "type": type, "aliases": alias_list, "metadata": meta, "run": run, "link": link}
    if local is not None:
        return local, "", {**kwargs, "copy": True}
    # Downloaded into a folder of ours: nothing else writes there, so wandb need not copy it.
    kind, default_name = _flyte_io_kind(obj) or "file", _artifact_names.name_from_path(str(obj.path))
    dest = tempfile.mkdtemp(prefix=f"wandb-artifact-{kind}-")
    dest = dest if kind == "dir" else os.path.join(dest, obj.name or default_name)
    return None, dest, {**kwargs, "name": name or default_name, "copy": False}


def log_wandb_artifact(
    obj: Any,
    name: str | None = None,
    type: str = "dataset",  # DEFAULT_TYPE, written out so the API docs show the value
    aliases: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    registry: str | None = None,
    registry_aliases: list[str] | None = None,
) -> Any:
    """Log a Flyte ``File``/``Dir`` (downloaded first when remote) or a local path as an artifact of the calling
    task's W&B run; in an async task, ``await log_wandb_artifact.aio(...)`` (same arguments).

    Args:
        name: Letters, digits, ``-``, ``_``, ``.``; default: the file or directory name.
        aliases: Extra aliases (W&B adds ``latest``).
        metadata: JSON-serializable; the key ``"flyte"`` is filled with the Flyte lineage (``run_name``,
            ``action_name``, ``project``, ``domain``, ``mode``, ``url`` when known).
        registry: Also link the new version into this W&B Registry collection,
            ``"wandb-registry-<registry>/<collection>"`` (see `link_wandb_artifact`; online runs only).

    Returns:
        The logged ``wandb.Artifact``, uploading in the background (``.wait()`` blocks until committed;
        with ``registry=``, committed and linked). None when W&B stopped answering mid-run: one
        ``wandb:`` line says so (``on_error="raise"``: `WandbTrackingError`).

    Raises:
        WandbConfigError: Outside a ``@wandb_init`` task, for an invalid name, type, alias, path or
            registry, or a ``registry=`` link from an offline run (checked before anything is logged).
    """
    local, dest, kwargs = _log_prelude(obj, name, type, aliases, metadata, registry, registry_aliases)
    return _log_local(local or str(obj.download_sync(dest)), **kwargs)


@functools.wraps(log_wandb_artifact)
async def _log_aio(obj: Any, *args: Any, **kwargs: Any) -> Any:
    local, dest, log_kwargs = _log_prelude(obj, *args, **kwargs)
    return await asyncio.to_thread(_log_local, local or str(await obj.download(dest)), **log_kwargs)


def _fetch(ref: str, type: str | None, root: str | None, as_file: bool | None) -> tuple[str, Any]:
    """Record the use on the calling run and download: (local path, ``flyte.io.File`` or ``Dir``)."""
    import flyte.io

    where = "use_wandb_artifact"
    parsed = _artifact_names.parse_artifact_ref(where, ref)
    if type is not None:
        _artifact_names.check_artifact_type(where, type)
    if as_file is not None and not isinstance(as_file, bool):
        raise WandbConfigError(f"{where}: as_file must be True, False or None (automatic), got {as_file!r}.")
    run = require_run(where)
    if _compat.settings_offline(run):
        raise WandbConfigError(
            f"{where}: the run {run.id!r} is offline; artifacts can only be fetched from a W&B server. "
            "Pass the data as a Flyte File/Dir instead, or run online."
        )
    full = parsed.path(getattr(run, "entity", None), getattr(run, "project", None))
    artifact = run.use_artifact(full, type=type)
    _report.note_artifact(run, artifact, "used")
    path = str(artifact.download(root=root or tempfile.mkdtemp(prefix=f"wandb-{parsed.name}-")))
    files = [os.path.join(d, f) for d, _, names in os.walk(path) for f in names]
    if as_file and len(files) != 1:
        raise WandbConfigError(
            f"{where}: as_file=True but artifact {full!r} holds {len(files)} files; use as_file=False (a Dir)."
        )
    want_file = len(files) == 1 if as_file is None else as_file
    return (files[0], flyte.io.File) if want_file else (path, flyte.io.Dir)


def use_wandb_artifact(
    ref: str, *, type: str | None = None, as_file: bool | None = None, root: str | None = None
) -> Any:
    """Use a W&B artifact in the calling task (recorded on its run, for W&B's lineage graph): its contents as a
    ``flyte.io.File`` or ``flyte.io.Dir``. In an async task, ``await use_wandb_artifact.aio(...)``.

    Args:
        ref: ``"entity/project/name:alias"``; entity and project default to the run's, alias to
            ``latest`` (``"name"``, ``"name:v3"``, ``"project/name:best"`` work too). A W&B Registry
            version is ``"wandb-registry-<registry>/<collection>:<alias>"`` (the run's organization).
        type: The expected artifact type (W&B refuses an artifact of another type).
        as_file: ``None`` (default): a ``File`` when the artifact holds exactly one file, else a
            ``Dir``; ``True``/``False`` force one (``True`` with several files is an error).

    Raises:
        WandbConfigError: Outside a ``@wandb_init`` task, offline, or for an invalid reference.
    """
    path, cls = _fetch(ref, type, root, as_file)
    return cls.from_local_sync(path) if flyte.ctx() else cls(path=path)  # a plain function: no Flyte storage


async def _use_aio(ref: str, *, type: str | None = None, as_file: bool | None = None, root: str | None = None) -> Any:
    path, cls = await asyncio.to_thread(_fetch, ref, type, root, as_file)
    return await cls.from_local(path) if flyte.ctx() else cls(path=path)


def _outputs(func_name: str, result: Any) -> list[tuple[str, Any]]:
    """(``<function>-<output>``, File/Dir) per File/Dir output; outputs named as Flyte does: ``o0``... or fields."""
    values = result if isinstance(result, tuple) else (result,)
    keys = getattr(values, "_fields", None) or [f"o{i}" for i in range(len(values))]
    pairs = zip(keys, values, strict=True)
    return [(_artifact_names.sanitize_name(f"{func_name}-{k}"), v) for k, v in pairs if _flyte_io_kind(v) is not None]


def outputs_wrapper(func: Callable[..., Any]) -> Callable[..., Any]:  # logs a task body's File/Dir outputs

    def outputs(result: Any) -> list[tuple[str, Any, str]]:
        # A rank or scope that does not log has nothing to log them to.
        found = _outputs(getattr(func, "__name__", "task"), result) if get_wandb_run() is not None else []
        return [(art, obj, "flyte-dir" if _flyte_io_kind(obj) == "dir" else "flyte-file") for art, obj in found]

    if asyncio.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_body(*args: Any, **kwargs: Any) -> Any:
            result = await func(*args, **kwargs)
            for art_name, obj, art_type in outputs(result):
                await _log_aio(obj, name=art_name, type=art_type)
            return result

        return async_body

    @functools.wraps(func)
    def sync_body(*args: Any, **kwargs: Any) -> Any:
        result = func(*args, **kwargs)
        for art_name, obj, art_type in outputs(result):
            log_wandb_artifact(obj, name=art_name, type=art_type)
        return result

    return sync_body


# The async forms (as File.download/download_sync): Flyte's *_sync I/O cannot run on an event loop; wandb's calls block.
log_wandb_artifact.aio = _log_aio  # type: ignore[attr-defined]
use_wandb_artifact.aio = _use_aio  # type: ignore[attr-defined]
