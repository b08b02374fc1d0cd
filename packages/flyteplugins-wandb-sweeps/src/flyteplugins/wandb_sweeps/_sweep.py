"""``@wandb_sweep``: create (or reuse) a task's sweep, hand its id to child tasks, collect its logs."""

import asyncio
import functools
import hashlib
import inspect
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar, overload

import flyte
import flyte.io

from flyteplugins.wandb_core import WandbConfigError, get_wandb_context
from flyteplugins.wandb_core.ext import Field, persist_offline_sweep, wandb_server

from . import _config
from ._config import SweepMode, SweepState, WandbSweep
from ._engine import validate_sweep_config
from ._results import existing_online_sweep, say

F = TypeVar("F")
MARKER = "__flyteplugins_wandb_sweep__"

_current: ContextVar[SweepState | None] = ContextVar("flyteplugins_wandb_sweep", default=None)


def _state(values: Mapping[str, Any], mode: str | None, cc: Mapping[str, str], **kw: Any) -> SweepState:
    """A sweep's state: where from ``cc`` keys, then ``values``, then ``wandb_config``; how from ``mode``."""
    wcfg = wcfg_obj.values_dict() if (wcfg_obj := get_wandb_context()) else {}
    config = kw.pop("config", None) or _config.sweep_config_from_values(values)
    return SweepState(
        mode=resolve_mode(mode, wcfg.get("mode"), os.environ, wandb_server(wcfg.get("host")).has_credentials),
        config=config,
        name=config.get("name"),
        project=cc.get(_config.SWEEP_PROJECT_KEY) or values.get("project") or wcfg.get("project"),
        entity=cc.get(_config.SWEEP_ENTITY_KEY) or values.get("entity") or wcfg.get("entity"),
        host=wcfg.get("host"),
        download_logs=bool(values.get("download_logs", False)),
        prior_runs=list(values.get("prior_runs") or []),
        **kw,
    )


def current_sweep() -> SweepState | None:  # the calling task body's; rebuilt from custom_context in a child task
    ctx = flyte.ctx()
    if (state := _current.get()) is not None and (not ctx or state.owner_action == ctx.action.name):
        return state
    cc = dict(ctx.custom_context or {}) if ctx else {}
    if not cc.get(_config.SWEEP_ID_KEY):
        return None
    return _state(_config.parse_context(cc), cc.get(_config.SWEEP_MODE_KEY), cc, sweep_id=cc[_config.SWEEP_ID_KEY])


def get_wandb_sweep_id() -> str | None:
    """The id of the current sweep: in a ``@wandb_sweep`` task or any child task of one; else ``None``."""
    if (state := _current.get()) is not None:
        return state.sweep_id
    ctx = flyte.ctx()
    return (ctx.custom_context or {}).get(_config.SWEEP_ID_KEY) or None if ctx else None


# wandb's mode names -> what the sweep does.
_MODES: dict[str, SweepMode] = {
    "offline": "offline", "dryrun": "offline", "disabled": "disabled", "online": "online", "run": "online",
    "shared": "online",
}  # fmt: skip


def resolve_mode(
    explicit: str | None, context_mode: str | None, env: Mapping[str, str], has_credentials: bool
) -> SweepMode:  # @wandb_sweep(mode=), else wandb_config(mode=), else WANDB_MODE; else online with credentials
    mode = _MODES.get(explicit or context_mode or env.get("WANDB_MODE") or "")
    return mode or ("online" if (env.get("WANDB_API_KEY") or has_credentials) else "offline")


def offline_sweep_id(seed: str) -> str:  # 8 characters as W&B's, stable per sweep name (a retry finds its trials)
    digest = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big")
    return "".join("0123456789abcdefghijklmnopqrstuvwxyz"[digest // 36**i % 36] for i in range(8))


_env_lock = threading.Lock()


def _create_online_sweep(state: SweepState) -> str:
    import wandb

    # wandb.sweep reads its server from the environment and sets WANDB_PROJECT/WANDB_ENTITY process-wide.
    saved = {k: os.environ.get(k) for k in ("WANDB_PROJECT", "WANDB_ENTITY", "WANDB_BASE_URL")}
    with _env_lock:
        try:
            if base_url := wandb_server(state.host).api_url:
                os.environ["WANDB_BASE_URL"] = base_url
            sweep_id = wandb.sweep(
                sweep=dict(state.config),
                entity=state.entity,
                project=state.project,
                prior_runs=state.prior_runs or None,
            )
        finally:
            for key in saved:
                os.environ.pop(key, None)
            os.environ.update({k: v for k, v in saved.items() if v is not None})
    return str(sweep_id)


def open_sweep(decorator_values: Mapping[str, Any], decorator_mode: str | None, task: Any = None) -> SweepState:
    if not (ctx := flyte.ctx()):
        raise RuntimeError("@wandb_sweep tasks must run as Flyte tasks (flyte.run / with_runcontext).")
    if (state := current_sweep()) is not None:
        # The task that created the sweep collects its logs; a reusing task only when asked to.
        state.download_logs = bool(decorator_values.get("download_logs", False))
        state.owner_action = ctx.action.name
    else:
        state = _new_sweep(ctx, decorator_values, decorator_mode)
    state.report = bool(getattr(task, "report", False))
    state.secrets = getattr(task, "secrets", None)
    return state


def _new_sweep(ctx: Any, decorator_values: Mapping[str, Any], decorator_mode: str | None) -> SweepState:
    values = _config.merge_values(decorator_values, _config.parse_context(dict(ctx.custom_context or {})))
    config = _config.sweep_config_from_values(values)
    if missing := " and ".join(k for k in ("method", "parameters") if not config.get(k)):
        raise WandbConfigError(
            f"@wandb_sweep task {ctx.action.name!r} has no sweep configuration ({missing} missing). Provide one "
            "with flyte.with_runcontext(custom_context=wandb_sweep_config(method='random', metric={'name': 'loss', "
            "'goal': 'minimize'}, parameters={'lr': {'min': 1e-4, 'max': 1e-1}})).run(task), with a `with "
            "wandb_sweep_config(...):` block around the call of the task, or as arguments: @wandb_sweep(method=..., "
            "parameters=...)."
        )
    config.setdefault("name", f"{ctx.action.run_name}-{ctx.action.name}")
    state = _state(values, decorator_mode, {}, sweep_id="", config=config, owner_action=ctx.action.name)
    # For both modes: a bad config fails before any agent starts (online, before the server records it).
    validate_sweep_config(state.config)
    if state.mode == "online":
        # A retried or re-run sweep task (same sweep name) continues its sweep on the server.
        found = existing_online_sweep(state)
        state.sweep_id = found or _create_online_sweep(state)
        state.resumed = bool(found)
        if found:
            say(f"wandb: continuing online sweep {found} ({state.name!r}).")
        return state
    state.sweep_id = offline_sweep_id(f"{state.project}/{state.name}")
    if state.mode == "offline":
        # On a cluster, beside the trials' stored runs: `flyte wandb sync` publishes them as one sweep.
        persist_offline_sweep(
            state.sweep_id, {"config": dict(state.config), "project": state.project, "entity": state.entity}
        )
    say(
        f"wandb: offline sweep {state.sweep_id} ({state.config.get('method')}); trials are offline runs in "
        f"group {state.sweep_id!r}: upload them later with `wandb sync`."
    )
    return state


@contextmanager
def sweep_scope(state: SweepState) -> Iterator[SweepState]:
    token = _current.set(state)
    # For a plain wandb.agent(...) in the body: its trials ignore wandb.init(project=), the environment decides.
    added = {}
    for var, value in (("WANDB_PROJECT", state.project), ("WANDB_ENTITY", state.entity)):
        if value and not os.environ.get(var):
            os.environ[var] = added[var] = value
    try:
        with flyte.custom_context(**state.context_keys()):
            yield state
    finally:
        _current.reset(token)
        for var, value in added.items():
            if os.environ.get(var) == value:
                del os.environ[var]


@flyte.trace
async def collect_offline_sweep_dirs(sweep_id: str, run_dirs: list[str]) -> flyte.io.Dir:
    """Copy the offline run directories of a sweep's trials into one ``Dir`` (``wandb sync`` each one)."""
    target = Path(tempfile.mkdtemp(prefix=f"wandb-sweep-{sweep_id}-"))
    remote: dict[str, list[str]] = {}
    for run_dir in sorted(set(run_dirs)):
        src = Path(run_dir)
        if src.is_dir():
            shutil.copytree(src, target / src.name, dirs_exist_ok=True)
        elif "://" in run_dir:
            # Uploaded by an agent that ran in another pod: <dir uri>/<offline-run-...>.
            parent, _, name = run_dir.rstrip("/").rpartition("/")
            remote.setdefault(parent, []).append(name)
    for parent, names in remote.items():
        fetched = Path(await flyte.io.Dir.from_existing_remote(parent).download(tempfile.mkdtemp()))
        for name in names:
            if (fetched / name).is_dir():
                shutil.copytree(fetched / name, target / name, dirs_exist_ok=True)
    return await flyte.io.Dir.from_local(target)


async def collect_sweep_logs(state: SweepState, run_dirs: list[str] | None = None) -> Any:
    """Online, every trial's files from W&B; offline, ``run_dirs`` (None: the task's, unless a launcher collected)."""
    with state.lock:
        if run_dirs is None and state.logs_collected:
            return None
        state.logs_collected = True
        dirs = list(state.run_dirs if run_dirs is None else run_dirs)
    if state.mode == "online":
        from flyteplugins.wandb_core import download_wandb_sweep_logs

        return await download_wandb_sweep_logs(state.sweep_id, state.project, state.entity, state.host)
    return await collect_offline_sweep_dirs(state.sweep_id, dirs)


def _wrap(func: Callable[..., Any], values: dict[str, Any], mode: str | None, task: Any = None) -> Callable[..., Any]:
    @functools.wraps(func)
    async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
        state = await asyncio.to_thread(open_sweep, values, mode, task)
        with sweep_scope(state):
            result = await func(*args, **kwargs)
            if state.download_logs:
                await collect_sweep_logs(state)
        return result

    @functools.wraps(func)
    def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
        state = open_sweep(values, mode, task)
        with sweep_scope(state):
            result = func(*args, **kwargs)
            if state.download_logs and not state.logs_collected:
                asyncio.run(collect_sweep_logs(state))
        return result

    wrapper: Callable[..., Any] = async_wrapper if inspect.iscoroutinefunction(func) else sync_wrapper
    setattr(wrapper, MARKER, values)
    return wrapper


class NotATaskError(WandbConfigError, RuntimeError):
    """``@wandb_sweep`` on something that is not a Flyte task; also a RuntimeError, as in 2.12."""


@overload
def wandb_sweep(_func: F) -> F: ...


@overload
def wandb_sweep(
    _func: None = None,
    *,
    project: str | None = None,
    entity: str | None = None,
    mode: str | None = None,
    download_logs: bool | None = None,
    **sweep_config: Any,
) -> Callable[[F], F]: ...


def wandb_sweep(
    _func: Any = None,
    *,
    project: str | None = None,
    entity: str | None = None,
    mode: str | None = None,
    download_logs: bool | None = None,
    **sweep_config: Any,
) -> Any:
    """Give a Flyte task a W&B sweep (a parent task's is reused); put it above ``@env.task``. In the task,
    `run_sweep_agents()` runs the trials. The arguments override `wandb_sweep_config()` key by key.

    Args:
        project: W&B project (else ``wandb_sweep_config``, else ``wandb_config``).
        entity: W&B entity (same fallbacks).
        mode: ``"online"``, ``"offline"`` or ``"disabled"``; else ``wandb_config(mode=)``, else
            ``WANDB_MODE``, else online with an API key and offline without one.
        download_logs: Collect every trial's files after the sweep as a ``flyte.io.Dir`` trace output.
        **sweep_config: Sweep-config keys (``method``, ``metric``, ``parameters``, ``name``, ...).

    Raises:
        WandbConfigError: At decoration time for invalid values; at run time when the task has no sweep
            configuration.
    """
    Field.wandb_mode()("@wandb_sweep", "mode", mode)
    values: dict[str, Any] = {"project": project, "entity": entity, "download_logs": download_logs}
    for key in ("method", "metric", "parameters", "name", "prior_runs"):
        if key in sweep_config:
            values[key] = sweep_config.pop(key)
    values["kwargs"] = sweep_config or None
    _config.validate_values("@wandb_sweep", values)
    values = {k: v for k, v in values.items() if v is not None}

    def decorate(obj: Any) -> Any:
        # What @env.task returns for a Python function: the function (obj.func) is what gets wrapped.
        if not isinstance(obj, flyte.AsyncFunctionTaskTemplate):
            raise NotATaskError(
                "@wandb_sweep can only be used with Flyte tasks: it decorates a Flyte task and must be the "
                f"outermost decorator (above @env.task); got {type(obj).__name__} {obj!r}."
            )
        if hasattr(obj.func, MARKER):
            raise WandbConfigError(f"@wandb_sweep is applied twice to task {obj.name!r}.")
        # `func` is a dataclass field: mutating it in place survives task.override(...).
        obj.func = _wrap(obj.func, values, mode, obj)
        if not any(isinstance(link, WandbSweep) for link in (obj.links or ())):
            obj.links = (*tuple(obj.links or ()), WandbSweep(project=project, entity=entity))
        return obj

    return decorate if _func is None else decorate(_func)
