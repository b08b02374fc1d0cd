"""Async task functions under Flyte's Elastic plugin, which calls the task function without awaiting it.

flyteplugins-pytorch runs an Elastic task by calling ``task.func(...)`` and using what it returns as the
task's output: in local mode straight from ``TorchFunctionTask.execute`` (inside Flyte's event loop),
remotely in each ``elastic_launch`` worker process (no event loop). For an ``async def`` that value is
an un-awaited coroutine, so the body never runs.

`ElasticAsyncFunction` stands in for such a function. Called inside a Flyte task context it is
synchronous: it runs the tracked sync wrapper (which opens the rank's run exactly as for a ``def``
task) around the coroutine, driven to completion on an event loop of its own. Called outside a task
context (``await task(...)`` in plain Python, which Flyte forwards to the function and awaits) it
returns the tracked coroutine as an ``async def`` would. It introspects as the original coroutine
function, so Flyte keeps treating the task as async (``task.override(...)`` re-reads that).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable, Coroutine
from typing import Any


def _has_running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def run_to_completion(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coro`` to its end from synchronous code and return its result (or raise its exception).

    Without an event loop in this thread (an ``elastic_launch`` worker) it runs right here, so signal
    handlers and ``torch.distributed`` keep the main thread. Under a running loop (Elastic local mode
    calls the function from Flyte's loop) it runs on a fresh loop in a helper thread, with this
    context's variables (the current run, Flyte's task context), while the caller waits, as it
    would for a ``def`` task's body.
    """
    if not _has_running_loop():
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
    import flyte

    return bool(flyte.ctx())


class ElasticAsyncFunction:
    """The task function of a tracked ``async def`` Elastic task (see the module docstring).

    Args:
        original: The user's coroutine function (its signature, name and code are what Flyte sees).
        in_task: The tracked synchronous wrapper of ``as_sync(original)``, used inside a task context.
        outside: The tracked coroutine-function wrapper of ``original``, used outside one.
    """

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
        if _in_task_context():
            return self._in_task(*args, **kwargs)
        return self._outside(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<tracked async Elastic task function {getattr(self, '__qualname__', '?')}>"
