"""While tracked runs are open, wandb's module API answers with the calling scope's run (docs/architecture.md)."""

from __future__ import annotations

import contextlib
import functools
import sys
import threading
import types
from collections.abc import Callable
from typing import Any

import flyte

from . import _compat, _concurrency, _notices
from ._state import ForwardItems, current, registry


class RunRoutingError(RuntimeError):
    """wandb's module API used where the calling run cannot be known (several runs open, no context)."""


_RUN_DATA = ("config", "summary")
# What wandb publishes on init (its set_global): the run's data attributes and run-bound functions.
_RUN_FUNCTIONS = ("log", "save", "use_artifact", "log_artifact", "define_metric", "alert", "watch", "unwatch")
_ROUTED = (*_RUN_DATA, *_RUN_FUNCTIONS, "mark_preempting", "log_model", "use_model", "link_model")
# wandb.init arguments an open run can take on; the rest are notices when they differ.
_APPLIED = {"config", "config_exclude_keys", "config_include_keys", "allow_val_change", "tags", "notes", "name"}
# Ignored silently where they name what the run already is (a script re-stating its project).
_SAME_OR_IGNORED = ("project", "entity", "id", "group", "job_type")


def _routed_run(module: types.ModuleType, what: str) -> Any | None:
    if (run := _caller_run()) is not None:
        return run
    run = _fallback_run(module)
    if run is None and len(registry.runs()) > 1 and not _in_untracked_task():
        ids = ", ".join(str(getattr(r, "id", "?")) for r in registry.runs())
        raise RunRoutingError(
            f"{what} was called outside any @wandb_init task or function while several tracked runs are "
            f"open in this process ({ids}), so it cannot tell which run it belongs to (a threading.Thread "
            "or run_in_executor worker does not inherit the task's context). Use get_wandb_run() in the "
            "task and pass the run to the worker, or run the worker inside the task's context: "
            "ctx = contextvars.copy_context(); then call ctx.run(fn, ...) in the thread "
            "(asyncio.to_thread and flyte's own helpers copy it for you)."
        )
    return None if run is module.__dict__.get("run") else run


def _resolve(name: str) -> Any:
    module = sys.modules["wandb"]
    run = _routed_run(module, f"wandb.{name}")
    return module.__dict__.get(name) if run is None else getattr(run, name)


class _LateRouted(ForwardItems):
    __slots__ = ("_name",)
    _name: str

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "_name", name)

    def _target(self) -> Any:
        return _resolve(self._name)

    def __repr__(self) -> str:
        try:
            return repr(self._target())
        except RunRoutingError:
            return f"<wandb.{self._name}: no run for this caller>"


def _caller_run() -> Any | None:
    return getattr(current(), "run", None)


def _in_untracked_task() -> bool:
    # A plain task's wandb calls are its own; a bare thread (a tracked task's worker) has no Flyte context.
    return current() is None and bool(flyte.ctx())


def _fallback_run(module: types.ModuleType) -> Any | None:
    own = module.__dict__.get("run")  # the user's own plain wandb.init outside tracked code
    if own is not None or _in_untracked_task():
        return own
    runs = registry.runs()
    return runs[0] if len(runs) == 1 else _compat.run_of_torch_hook(runs)


def _module_value(name: str) -> Callable[[types.ModuleType], Any]:
    # Without a tracked caller (a bare thread, `ctx.run(wandb.log, ...)`) the value is routed when used.
    def routed(*args: Any, **kwargs: Any) -> Any:
        return _resolve(name)(*args, **kwargs)

    routed.__name__ = routed.__qualname__ = name
    routed.__doc__ = f"wandb.{name}, routed when called to the run of the calling tracked task or function."
    late: Any = _LateRouted(name) if name in _RUN_DATA else routed

    def get(module: types.ModuleType) -> Any:
        return late if (run := _caller_run()) is None else getattr(run, name)

    return get


def _get_run(module: types.ModuleType) -> Any:
    # Reads never raise: wandb reads wandb.run itself (in Run.finish, from any thread).
    return run if (run := _caller_run()) is not None else _fallback_run(module)


def _init_for_caller(*args: Any, **kwargs: Any) -> Any:
    module = sys.modules["wandb"]
    original = module.__dict__["init"]
    if kwargs.get("reinit") == "create_new":  # an explicit request for a run of its own
        active = current()
        # In a scope whose run is offline (no credentials, W&B unreachable) a separate run would fail to log in.
        if active is not None and active.offline and "mode" not in kwargs and "settings" not in kwargs:
            _notices.notice_once(
                f"init:create_new:{active.run_id}",
                "wandb.init(reinit='create_new') inside a tracked task whose run is offline: the separate run is "
                "offline too (pass mode= to choose).",
            )
            kwargs["mode"] = "offline"
        return original(*args, **kwargs)
    _concurrency.settle(current())  # a sweep trial's run still opening: the real run, once open
    run = _routed_run(module, "wandb.init()")
    if run is not None:
        _apply_init(run, kwargs)
        return run
    # Untracked: not wandb's default, which would return (or finish_previous finish) a sibling task's tracked run.
    if not registry.runs():
        return original(*args, **kwargs)
    own = module.__dict__.get("run")
    if own is not None and kwargs.get("reinit") in (None, False, "default", "return_previous"):
        return own
    if own is not None and kwargs.get("reinit") in (True, "finish_previous"):
        own.finish()
    run = original(*args, **{**kwargs, "reinit": "create_new"})
    # wandb publishes a run opened without create_new as wandb.run (its set_global): so does this one.
    module.__dict__.update({name: getattr(run, name) for name in _ROUTED}, run=run)
    return run


def _apply_init(run: Any, kwargs: dict[str, Any]) -> None:
    if kwargs.get("config") is not None:
        # wandb's own reading of init's config (dict, Namespace, absl flags, YAML path).
        parse_config: Callable[..., Any] = sys.modules["wandb"].helper.parse_config
        include, exclude = kwargs.get("config_include_keys"), kwargs.get("config_exclude_keys")
        run.config.update(parse_config(kwargs["config"], include=include, exclude=exclude), allow_val_change=True)
    if kwargs.get("tags"):
        have = tuple(run.tags or ())
        run.tags = have + tuple(t for t in kwargs["tags"] if t not in have)
    if (notes := str(kwargs.get("notes") or "")) and notes not in str(run.notes or ""):
        run.notes = f"{run.notes}\n{notes}" if run.notes else notes
    if kwargs.get("name"):
        run.name = kwargs["name"]
    same = {key for key in _SAME_OR_IGNORED if key in kwargs and str(getattr(run, key, "") or "") == str(kwargs[key])}
    ignored = sorted(key for key, value in kwargs.items() if value is not None and key not in _APPLIED | same)
    if ignored:
        _notices.notice_once(
            f"init:{run.id}:{','.join(ignored)}",
            f"wandb.init() inside a tracked task returned the task's run {run.id!r} (the plugin owns "
            f"its lifecycle) and ignored {', '.join(ignored)}; config, tags, notes and name "
            "were applied. Pass reinit='create_new' for a separate run.",
        )


def _finish_for_caller(*args: Any, **kwargs: Any) -> None:
    module = sys.modules["wandb"]
    if (run := _caller_run()) is None:
        if module.__dict__.get("run") is not None or not registry.runs() or _in_untracked_task():
            module.__dict__["finish"](*args, **kwargs)
            return
        run = _fallback_run(module)  # a worker thread of the process's single tracked run: its code
        if run is None:
            _notices.notice_once(
                "finish:untracked",
                "wandb.finish() outside any tracked task was ignored: tracked runs are finished by "
                "their own task when it ends.",
            )
            return
    _deferred(run, args, kwargs)


def _teardown_for_caller(exit_code: int | None = None) -> None:
    # From a task's code it acts as wandb.finish: tearing the service down would end every tracked run.
    if _caller_run() is None and not _in_untracked_task():
        sys.modules["wandb"].__dict__["teardown"](exit_code)
        return
    _finish_for_caller(exit_code=exit_code)
    _notices.notice_once(
        "teardown",
        "wandb.teardown() in a task while tracked runs are open: it finished only the caller's own run "
        "(a tracked run stays open until its task ends); wandb's service stops when the process exits.",
    )


def _deferred(run: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    # A finish inside the run's scope: the run stays open; its first non-zero exit code is kept.
    exit_code = kwargs.get("exit_code", args[0] if args else None)
    run_id = getattr(run, "id", "?")
    kept = f" Its exit code {int(exit_code)} is kept: the run finishes with it." if exit_code else ""
    if exit_code and (owner := registry.owner(run)) is not None and owner.requested_exit_code is None:
        owner.requested_exit_code = int(exit_code)
    _notices.notice_once(
        f"finish:{run_id}:{bool(exit_code)}",
        f"wandb.finish()/run.finish() inside a tracked task: run {run_id!r} stays open until the task "
        f"ends (the plugin finishes it then); what is logged after this is kept.{kept}",
    )


def _set(name: str, module: types.ModuleType, value: Any) -> None:
    module.__dict__[name] = value  # wandb's own set_global/unset_globals, kept for after routing


_original_class: type | None = None


def install() -> None:  # route wandb's module API by caller (the first tracked run is opening); under the registry lock
    global _original_class
    module = sys.modules.get("wandb")
    if module is None or _original_class is not None:
        return
    _original_class = type(module)
    getters: dict[str, Callable[[types.ModuleType], Any]] = {name: _module_value(name) for name in _ROUTED}
    getters.update(
        run=_get_run,
        init=lambda m: _init_for_caller,
        finish=lambda m: _finish_for_caller,
        teardown=lambda m: _teardown_for_caller,
    )
    namespace: dict[str, Any] = {name: property(get, functools.partial(_set, name)) for name, get in getters.items()}
    module.__class__ = type("RoutedWandbModule", (_original_class,), {**namespace, "__doc__": _original_class.__doc__})


def uninstall() -> None:  # give wandb its own module API back (the last tracked run finished); under the registry lock
    global _original_class
    module = sys.modules.get("wandb")
    if module is None or _original_class is None:
        return
    if type(module).__name__ == "RoutedWandbModule":  # not replaced by someone else since
        module.__class__ = _original_class
    _original_class = None


def guard_finish(run: Any) -> None:
    """``run.finish()`` from the task's code (or a scope-less worker thread) leaves the run open."""
    for name in _compat.FINISHERS:

        def finish(*args: Any, _name: str = name, **kwargs: Any) -> None:
            caller = _caller_run()
            off_main = threading.current_thread() is not threading.main_thread()
            if (caller is run if caller is not None else off_main) and registry.owner(run) is not None:
                _deferred(run, args, kwargs)
                return
            _unguard(run)
            getattr(run, _name)(*args, **kwargs)

        with contextlib.suppress(Exception):  # a run type that does not take instance attributes
            setattr(run, name, finish)


def _unguard(run: Any) -> None:
    with contextlib.suppress(Exception):
        for name in _compat.FINISHERS:
            vars(run).pop(name, None)


def real_finish(run: Any, exit_code: int | None = None) -> None:
    _unguard(run)  # past the guard user code sees
    run.finish(exit_code=exit_code)
