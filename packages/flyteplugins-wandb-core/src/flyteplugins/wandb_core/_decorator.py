"""``@wandb_init``: open, expose and finish the right W&B run around a Flyte task or a function."""

from __future__ import annotations

import ast
import asyncio
import contextvars
import functools
import inspect
import sys
import textwrap
import threading
import warnings
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar, overload

import flyte

from . import _extras
from ._config import RankScope, RunMode, explicit_settings
from ._link import Wandb
from ._scope import MARKER, _wrap, check_input_names
from ._validate import WandbConfigError, check_decorator_argument, check_decorator_target

__all__ = ["MARKER", "wandb_init"]

F = TypeVar("F")


def run_to_completion(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coro`` to its end from sync code: here without a running loop (signal handlers and
    ``torch.distributed`` need the main thread), else on a fresh loop in a helper thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    context = contextvars.copy_context()
    outcome: Future[Any] = Future()

    def drive() -> None:
        try:
            outcome.set_result(context.run(asyncio.run, coro))
        except BaseException as exc:  # re-raised in the caller's thread, unchanged
            outcome.set_exception(exc)

    worker = threading.Thread(target=drive, name="flyteplugins-wandb-elastic-async", daemon=True)
    worker.start()
    worker.join()
    return outcome.result()


def as_sync(func: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Any]:
    @functools.wraps(func)
    def call_to_completion(*args: Any, **kwargs: Any) -> Any:
        return run_to_completion(func(*args, **kwargs))

    return call_to_completion


def _in_task_context() -> bool:
    return bool(flyte.ctx())


class ElasticAsyncFunction:
    """A tracked ``async def`` Elastic task's function (Elastic calls it without awaiting): ``in_task`` in a task
    context, ``outside`` elsewhere; it introspects as ``original``, so Flyte treats the task as async."""

    def __init__(self, original: Callable[..., Any], in_task: Callable[..., Any], outside: Callable[..., Any]) -> None:
        functools.update_wrapper(self, original)
        self._in_task, self._outside = in_task, outside
        # inspect.iscoroutinefunction() reads these from any function-like callable (Python 3.10+).
        self.__code__ = original.__code__
        self.__defaults__ = getattr(original, "__defaults__", None)
        self.__kwdefaults__ = getattr(original, "__kwdefaults__", None)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return (self._in_task if _in_task_context() else self._outside)(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<tracked async Elastic task function {getattr(self, '__qualname__', '?')}>"


def _check_outermost(func: Callable[..., Any]) -> None:
    # Refuse @env.task written above @wandb_init (read from the source of the decorators).
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    except (OSError, TypeError, SyntaxError, IndentationError):
        return
    if not tree.body or not isinstance(node := tree.body[0], (ast.FunctionDef, ast.AsyncFunctionDef)):
        return
    names = [ast.unparse(d) for d in node.decorator_list]
    ours = next((i for i, text in enumerate(names) if "wandb_init" in text), 0)
    for text in names[:ours]:
        if text.split("(")[0].rpartition(".")[2] == "task":  # @task, @env.task, @module.env.task
            raise WandbConfigError(
                f"@wandb_init must be the outermost decorator, but it is applied under @{text} on "
                f"{getattr(func, '__qualname__', func)!r}. Write:\n    @wandb_init(...)\n    @{text}\n"
                f"    def {getattr(func, '__name__', 'fn')}(...): ..."
            )


def _attach_links(task: Any, settings: dict[str, Any]) -> None:
    if any(isinstance(link, Wandb) for link in getattr(task, "links", ()) or ()):
        return
    # None defers to the wandb_config context at link-render time; an offline run's link says where it is kept.
    link_args: dict[str, Any] = {key: settings.get(key) for key in ("host", "project", "entity", "run_mode")}
    link_args.update(rank_scope=settings.get("rank_scope"), id=settings.get("id"), _mode=settings.get("mode"))
    link_args["_env_mode"] = (getattr(task, "env_vars", None) or {}).get("WANDB_MODE")
    links: tuple[Any, ...] = (Wandb(**link_args),)
    if _extras.is_elastic(task):
        if (handler := _extras.distributed()) is not None:
            links = tuple(handler.links_for_task(task, link_args, settings))
        else:
            warnings.warn(
                f"Task {task.name!r} uses Elastic but rank handling is not installed; only global rank 0 "
                f"will log. Install it with: {_extras.install_hint('distributed')}",
                RuntimeWarning,
                stacklevel=4,
            )
    task.links = (*tuple(task.links or ()), *links)


def _decorate(obj: Any, settings: dict[str, Any], log_outputs: bool = False, log_inputs: bool = False) -> Any:
    is_task = isinstance(obj, flyte.TaskTemplate)  # what @env.task returns
    target = obj.func if is_task else obj
    check_decorator_target("@wandb_init", target)
    track = functools.partial(_wrap, settings=settings, inputs_of=target if log_inputs else None)
    func = target
    if log_outputs:  # inside the run's scope: logged before it finishes
        from ._artifacts import outputs_wrapper  # only tasks that log outputs load it

        func = outputs_wrapper(target)
    # Flyte's entrypoint decorates on the main thread before it starts tasks: the one place a SIGTERM handler
    # can go in for sync bodies, which run in threads (kept for the process's life: runs open off that thread).
    if getattr(target, "__module__", None) == "__main__" or "flyte._bin.runtime" in sys.modules:
        from . import _preempt

        _preempt.arm(keep=True)
    if is_task:
        if hasattr(target, MARKER):
            raise WandbConfigError(f"@wandb_init is applied twice to task {obj.name!r}.")
        if log_inputs:
            check_input_names("@wandb_init", target)
        elastic = _extras.is_elastic(obj)
        handler = _extras.distributed() if elastic else None
        if handler is not None:  # rank handling refuses or warns about what cannot work on this task
            handler.check_task(obj, settings)
        _attach_links(obj, settings)  # every check is done before the task changes
        # A dataclass field (survives `task.override`), set in place: the TaskEnvironment's object is deployed.
        if elastic and inspect.iscoroutinefunction(func):
            obj.func = ElasticAsyncFunction(
                func, in_task=track(as_sync(func), is_task=True, task=obj), outside=track(func, is_task=True, task=obj)
            )
            setattr(obj.func, MARKER, settings)
        else:
            obj.func = track(func, is_task=True, task=obj)
        return obj
    if isinstance(obj, (staticmethod, classmethod)) or not callable(obj):
        raise WandbConfigError(f"@wandb_init decorates a Flyte task or a function, got {type(obj).__name__}: {obj!r}.")
    _check_outermost(obj)
    if log_inputs:
        check_input_names("@wandb_init", obj)
    return track(func, is_task=False)


@overload
def wandb_init(_func: F) -> F: ...


@overload
def wandb_init(
    _func: None = None,
    *,
    run_mode: RunMode | None = None,
    rank_scope: RankScope | None = None,
    download_logs: bool | None = None,
    project: str | None = None,
    entity: str | None = None,
    host: str | None = None,
    **kwargs: Any,
) -> Callable[[F], F]: ...


def wandb_init(
    _func: F | None = None,
    *,
    run_mode: RunMode | None = None,
    rank_scope: RankScope | None = None,
    download_logs: bool | None = None,
    project: str | None = None,
    entity: str | None = None,
    host: str | None = None,
    **kwargs: Any,
) -> F | Callable[[F], F]:
    """Track a Flyte task (or a plain function) as a W&B run.

    Bare or with arguments, always the **outermost** decorator, above ``@env.task``. Inside, `get_wandb_run()`
    returns the run; it is finished when the task ends, with a non-zero exit code when the task raises.

    Args:
        run_mode: ``"auto"`` (default): the nearest tracked ancestor's run, or a new one if none;
            ``"new"``: always a run of its own; ``"shared"``: the ancestor's run (error if none).
        rank_scope: ``"global"`` (default) or ``"worker"``: which ranks log under torchrun/Elastic.
        download_logs: Download the run's files when the task ends (online runs only).
        entity: W&B entity (user or team).
        host: Base URL of a self-hosted W&B server; used by wandb and by the Flyte UI link.
        **kwargs: Any other ``wandb.init`` argument (``id``, ``name``, ``tags``, ``config``, ``mode``,
            ``settings``, ...), plus ``on_error`` (``"continue"``/``"raise"``), ``finish_timeout``
            (seconds), ``log_outputs`` (log ``File``/``Dir`` outputs as artifacts ``<function>-o0``, ...)
            and ``log_inputs`` (the call's inputs go into ``config["inputs"]``, short JSON as is, else
            a summary such as ``"<File>"``).

    Raises:
        WandbConfigError: At decoration time, for invalid values, non-JSON config, secret-like
            arguments, or when applied under ``@env.task`` instead of above it.
    """
    named = dict(locals())  # the named settings, as passed: the signature is their one list
    del named["_func"], named["kwargs"]
    check_decorator_argument("@wandb_init", _func)
    # Plugin options, not wandb.init arguments: taken out before the settings are validated.
    log_outputs, log_inputs = (kwargs.pop(option, False) for option in ("log_outputs", "log_inputs"))
    for option, value in (("log_outputs", log_outputs), ("log_inputs", log_inputs)):
        if not isinstance(value, bool):
            raise WandbConfigError(f"@wandb_init: {option} must be True or False, got {value!r}.")
    settings = explicit_settings("@wandb_init", named, kwargs, travels=False)
    if _func is not None:
        decorated: F = _decorate(_func, settings, log_outputs, log_inputs)
        return decorated
    return lambda obj: _decorate(obj, settings, log_outputs, log_inputs)
