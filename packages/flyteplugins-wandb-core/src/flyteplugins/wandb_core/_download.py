"""Run and sweep files from W&B: plain, ``@flyte.trace`` (a ``flyte.io.Dir``) and ``download_logs=True`` forms."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, cast

import flyte

from ._config import RUN_ENTITY_KEY, RUN_HOST_KEY, RUN_ID_KEY, RUN_PROJECT_KEY
from ._decorator import as_sync
from ._extras import MissingExtraError, load_optional
from ._state import api_base_url, current

logger = logging.getLogger("flyteplugins.wandb")
_F = TypeVar("_F", bound=Any)

DEFAULT_WORKERS = 8
_Target = tuple[str, str | None, str | None, str | None]  # (run or sweep id, project, entity, host)


def _write_json(path: str, value: Any) -> None:
    with open(path, "w") as out:  # wandb hands back its own Mapping types (SummarySubDict): written as dicts
        json.dump(value, out, indent=2, default=lambda v: dict(v) if isinstance(v, Mapping) else str(v))


@contextlib.contextmanager
def _wandb_api(kind: str, host: str | None, path: Callable[[], str]) -> Iterator[Any]:
    """A ``wandb.Api`` for ``host`` once it answers; what fails inside is raised as a RuntimeError naming ``path()``."""
    import wandb

    from ._lifecycle import _base_url, probe

    base = api_base_url(host)
    # wandb.Api() against a dead server retries for ~20 s and then blames the credentials.
    if unreachable := probe(base or _base_url({})):
        raise RuntimeError(f"Cannot download from W&B: {unreachable}.")
    try:
        yield wandb.Api(overrides={"base_url": base}) if base else wandb.Api()
    except Exception as exc:
        where = base or os.environ.get("WANDB_BASE_URL") or "W&B cloud"
        if isinstance(exc, wandb.errors.AuthenticationError) or "401" in str(exc) or "403" in str(exc):
            raise RuntimeError(
                f"Authentication failed when reading W&B {kind} '{path()}' from {where}: check that "
                f"WANDB_API_KEY is set to a valid key for that server. ({exc})"
            ) from exc
        if isinstance(exc, (wandb.errors.CommError, ValueError)):
            raise RuntimeError(
                f"Failed to fetch wandb {kind} '{path()}': it was not found on {where}, or this API key "
                f"cannot read it. Check the id, entity and project. ({exc})"
            ) from exc
        raise RuntimeError(
            f"Unexpected error fetching wandb {kind} '{path()}' from {where}: {type(exc).__name__}: {exc}"
        ) from exc


def _settings_defaults(
    cc: Mapping[str, str], project: str | None, entity: str | None, host: str | None
) -> tuple[str | None, str | None, str | None]:
    """``project``/``entity``/``host``, else from the task's ``wandb_config`` context, else the env."""
    return (
        project or cc.get("wandb_project") or os.environ.get("WANDB_PROJECT") or None,
        entity or cc.get("wandb_entity") or os.environ.get("WANDB_ENTITY") or None,
        host or cc.get("wandb_host") or None,
    )


def _resolve_run(run_id: str | None, project: str | None, entity: str | None, host: str | None) -> _Target:
    cc = flyte.get_custom_context()
    active = current()
    own = active if active is not None and active.run is not None else None  # the run logging here
    if run_id is None:
        run_id = (own.run_id if own is not None else None) or cc.get(RUN_ID_KEY) or None
        if run_id is None:
            raise RuntimeError(
                "download_wandb_run_dir: no run_id given and no W&B run is active here. Pass "
                "run_id=..., or call it inside a @wandb_init task (or a child of one)."
            )
    if run_id == cc.get(RUN_ID_KEY):  # the advertised run may live in another project than this task's settings name
        project = project or cc.get(RUN_PROJECT_KEY) or None
        entity = entity or cc.get(RUN_ENTITY_KEY) or None
        host = host or cc.get(RUN_HOST_KEY) or None
    if own is not None and run_id in (getattr(own.run, "id", None), own.run_id):
        project = project or getattr(own.run, "project", None) or None
        entity = entity or getattr(own.run, "entity", None) or None
        host = host or getattr(own.plan, "host", None) or None
    return (run_id, *_settings_defaults(cc, project, entity, host))


def _fetch_run(api_run: Any, path: str, include_history: bool, workers: int) -> None:
    files = list(api_run.files())
    # Each download is a round trip through wandb's service: overlap them (and close the handle each returns).
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(files)))) as pool:
        list(pool.map(lambda f: f.download(root=path, replace=True).close(), files))
    _write_json(os.path.join(path, "summary.json"), api_run.summary_metrics or {})
    if include_history:
        # scan_history reads every row (history() samples) and returns dicts, with or without pandas.
        _write_json(os.path.join(path, "metrics_history.json"), list(api_run.scan_history()))


def download_wandb_run_dir(
    run_id: str | None = None,
    path: str | None = None,
    include_history: bool = True,
    *,
    project: str | None = None,
    entity: str | None = None,
    host: str | None = None,
    max_workers: int = 8,  # DEFAULT_WORKERS, written out so the API docs show the value
) -> str:
    """Download every file a W&B run uploaded, its ``summary.json`` and, with ``include_history``,
    ``metrics_history.json`` (every logged row); returns the directory.

    Args:
        run_id: Default: the run of the current ``@wandb_init`` task, or the one its tracked parent advertised.
        path: Target directory (created if needed). Default: ``{tmp}/wandb_runs/{run_id}``.
        project: Default: where the current run lives, then ``wandb_config``, then ``WANDB_PROJECT``; ``entity``
            alike (then your default entity), ``host`` (the server's base URL) alike but for ``WANDB_BASE_URL``.

    Raises:
        RuntimeError: No ``run_id`` and no active run; authentication failed; the run does not exist
            or cannot be read; a download failed. The wandb error is the ``__cause__``.
    """
    run_id, project, entity, host = _resolve_run(run_id, project, entity, host)
    run_path = "/".join(p for p in (entity if project else None, project, run_id) if p)
    path = path or os.path.join(tempfile.gettempdir(), "wandb_runs", run_id)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise RuntimeError(f"Failed to create download directory {path!r} for run '{run_path}': {exc}") from exc
    with _wandb_api("run", host, lambda: run_path) as api:
        api_run = api.run(run_path)
    try:
        _fetch_run(api_run, path, include_history, max_workers)
    except Exception as exc:
        raise RuntimeError(
            f"Failed to download files of W&B run '{run_path}' into {path!r}: {type(exc).__name__}: {exc}"
        ) from exc
    return path


def _resolve_sweep(sweep_id: str | None, project: str | None, entity: str | None, host: str | None) -> _Target:
    try:  # sweeps belong to the sweeps package: asked through its public API; without it no sweep is active
        active_id = load_optional("get_wandb_sweep_id")()  # type: ignore[operator]
        definition = load_optional("get_wandb_sweep_context")() if active_id else None  # type: ignore[operator]
    except MissingExtraError:
        active_id = definition = None
    if sweep_id is None:
        sweep_id = active_id or os.environ.get("WANDB_SWEEP_ID") or None
        if sweep_id is None:
            raise RuntimeError(
                "download_wandb_sweep_dirs: no sweep_id given and no sweep is active here. Pass "
                "sweep_id=..., or call it inside a @wandb_sweep task (or a child of one)."
            )
    if sweep_id == active_id and definition is not None:
        project = project or definition.project or None
        entity = entity or definition.entity or None
    return (sweep_id, *_settings_defaults(flyte.get_custom_context(), project, entity, host))


def download_wandb_sweep_dirs(
    sweep_id: str | None = None,
    base_path: str | None = None,
    include_history: bool = True,
    *,
    project: str | None = None,
    entity: str | None = None,
    host: str | None = None,
    max_workers: int = 8,  # DEFAULT_WORKERS, written out so the API docs show the value
) -> list[str]:
    """Download every run of a W&B sweep (as `download_wandb_run_dir`), one sub-directory per run id;
    returns those that downloaded (a ``RuntimeWarning`` names the others).

    Args:
        sweep_id: Default: the sweep of the current ``@wandb_sweep`` task (or its child).
        base_path: Parent directory. Default: ``{tmp}/wandb_runs``.
        project: Default: the sweep context, then ``wandb_config``, then ``WANDB_PROJECT``; ``entity`` alike
            (``WANDB_ENTITY``); ``host``: ``wandb_config``, then ``WANDB_BASE_URL``.

    Raises:
        RuntimeError: No ``sweep_id`` and no active sweep; the project is unknown; authentication
            failed; the sweep does not exist; every run failed. The wandb error is the ``__cause__``.
    """
    sweep_id, project, entity, host = _resolve_sweep(sweep_id, project, entity, host)
    if not project:
        raise RuntimeError(
            f"Cannot query sweep without entity and project: the W&B project of sweep {sweep_id!r} is "
            "unknown to download_wandb_sweep_dirs; pass project=..., or set wandb_config(project=...) or WANDB_PROJECT."
        )
    with _wandb_api("sweep", host, lambda: f"{entity}/{project}/{sweep_id}") as api:
        entity = entity or api.default_entity
        runs = list(api.sweep(f"{entity}/{project}/{sweep_id}").runs)
    sweep_path = f"{entity}/{project}/{sweep_id}"
    done: list[str] = []
    failed: list[tuple[str, BaseException]] = []  # reported; fatal only when every run failed
    for api_run in runs:
        path = os.path.join(base_path or os.path.join(tempfile.gettempdir(), "wandb_runs"), api_run.id)
        try:
            os.makedirs(path, exist_ok=True)
            _fetch_run(api_run, path, include_history, max_workers)
            done.append(path)
        except Exception as exc:
            failed.append((api_run.id, exc))
    if failed:
        detail = "; ".join(f"{rid}: {type(e).__name__}: {e}" for rid, e in failed)
        if not done:
            raise RuntimeError(
                f"Failed to download all {len(failed)} runs of W&B sweep '{sweep_path}': {detail}"
            ) from failed[0][1]
        message = (
            f"Failed to download {len(failed)}/{len(runs)} runs of W&B sweep '{sweep_path}': {detail}. "
            f"Downloaded {len(done)} of {len(runs)}, in: {', '.join(done)}"
        )
        logger.warning(message)
        warnings.warn(message, RuntimeWarning, stacklevel=2)
    return done


def _lazy_trace(func: _F) -> _F:  # flyte.trace at first call: its annotation's flyte.io costs 3x import flyte
    traced = functools.cache(lambda: flyte.trace(func) if __import__("flyte.io") else func)

    @functools.wraps(func)
    async def call(*args: Any, **kwargs: Any) -> Any:
        return await traced()(*args, **kwargs)

    return cast(_F, call)


@_lazy_trace
async def download_wandb_run_logs(
    run_id: str, project: str | None = None, entity: str | None = None, host: str | None = None
) -> flyte.io.Dir:
    """Download a run (`download_wandb_run_dir()`) as a ``flyte.io.Dir`` trace output (``download_logs=True``)."""
    path = await asyncio.to_thread(download_wandb_run_dir, run_id, project=project, entity=entity, host=host)
    return await flyte.io.Dir.from_local(path)


@_lazy_trace
async def download_wandb_sweep_logs(
    sweep_id: str, project: str | None = None, entity: str | None = None, host: str | None = None
) -> flyte.io.Dir:
    """Download every run of a sweep (`download_wandb_sweep_dirs()`) as one ``flyte.io.Dir``, a folder per run."""
    base = tempfile.mkdtemp(prefix=f"wandb-sweep-{sweep_id}-")
    await asyncio.to_thread(download_wandb_sweep_dirs, sweep_id, base, project=project, entity=entity, host=host)
    return await flyte.io.Dir.from_local(base)


async def download_after_run(active: Any) -> flyte.io.Dir | None:
    """``download_logs=True``: the run that just ended, as a traced ``Dir``; a failure only warns (the task is done)."""
    try:
        return await download_wandb_run_logs(
            run_id=str(active.run_id),
            project=getattr(active.run, "project", None) or None,
            entity=getattr(active.run, "entity", None) or None,
            host=getattr(active.plan, "host", None) or None,
        )
    except Exception as exc:
        if active.raises:
            raise
        message = f"download_logs: could not download W&B run {active.run_id!r}: {exc}"
        logger.warning(message)
        warnings.warn(message, RuntimeWarning, stacklevel=2)
        return None


download_after_run_sync = as_sync(download_after_run)
