"""Async task functions under Flyte's Elastic plugin, which calls the task function without awaiting it.

Inside a task context `ElasticAsyncFunction` runs the tracked sync wrapper around the coroutine,
driven on an event loop of its own; outside one it returns the tracked coroutine, and it introspects
as the original coroutine function, so Flyte keeps treating the task as async.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import flyte


def run_to_completion(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coro`` to its end from synchronous code and return its result (or raise its exception).

    Here without a running loop (signal handlers and ``torch.distributed`` keep the main thread), else
    on a fresh loop in a helper thread with this context's variables (Elastic local mode).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    context = contextvars.copy_context()
    outcome: dict[str, Any] = {}

    def drive() -> None:
        try:
            outcome["value"] = context.run(asyncio.run, coro)
        except BaseException as exc:  # re-raised in the caller's thread, unchanged
            outcome["error"] = exc

    worker = threading.Thread(target=drive, name="flyteplugins-wandb-elastic-async", daemon=True)
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def as_sync(func: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Any]:
    """A plain function that runs ``func``'s coroutine to completion (see `run_to_completion()`)."""

    @functools.wraps(func)
    def call_to_completion(*args: Any, **kwargs: Any) -> Any:
        return run_to_completion(func(*args, **kwargs))

    return call_to_completion


def _in_task_context() -> bool:
    return bool(flyte.ctx())


class ElasticAsyncFunction:
    """The task function of a tracked ``async def`` Elastic task: ``in_task`` (the tracked wrapper of
    ``as_sync(original)``) inside a task context, ``outside`` (that of ``original``) elsewhere."""

    def __init__(
        self,
        original: Callable[..., Coroutine[Any, Any, Any]],
        in_task: Callable[..., Any],
        outside: Callable[..., Coroutine[Any, Any, Any]],
    ) -> None:
        functools.update_wrapper(self, original)
        self._in_task = in_task
        self._outside = outside
        # inspect.iscoroutinefunction() reads these from any function-like callable (Python 3.10+):
        # with the original's code object it reports True, so Flyte still treats the task as async.
        self.__code__ = original.__code__
        self.__defaults__ = getattr(original, "__defaults__", None)
        self.__kwdefaults__ = getattr(original, "__kwdefaults__", None)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return (self._in_task if _in_task_context() else self._outside)(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<tracked async Elastic task function {getattr(self, '__qualname__', '?')}>"
