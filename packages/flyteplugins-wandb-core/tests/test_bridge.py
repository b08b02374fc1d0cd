"""The async bridge for Elastic tasks: pure logic (the torchrun and elastic_launch proofs are in
integration-tests/distributed and integration-tests/cluster)."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import threading
from typing import Any

import pytest

from flyteplugins.wandb_core import _decorator
from flyteplugins.wandb_core._decorator import ElasticAsyncFunction, as_sync, run_to_completion

marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="unset")


async def body(x: int, *, scale: int = 2) -> dict[str, Any]:
    """The user's docstring."""
    await asyncio.sleep(0)
    return {"value": x * scale, "marker": marker.get(), "thread": threading.current_thread().name}


def test_runs_right_here_without_an_event_loop() -> None:
    out = run_to_completion(body(3))
    assert out["value"] == 6 and out["thread"] == threading.current_thread().name


def test_under_a_running_loop_runs_on_a_helper_thread_with_this_context() -> None:
    async def caller() -> dict[str, Any]:
        marker.set("caller's")
        return run_to_completion(body(4, scale=3))  # a sync call from a loop's thread, as Elastic does

    out = asyncio.run(caller())
    assert out["value"] == 12
    assert out["marker"] == "caller's"
    assert out["thread"] == "flyteplugins-wandb-elastic-async"


def test_the_body_s_exception_reaches_the_caller_unchanged() -> None:
    class Boom(Exception):
        pass

    async def fails() -> None:
        raise Boom("x")

    with pytest.raises(Boom):
        run_to_completion(fails())

    async def caller() -> None:
        run_to_completion(fails())

    with pytest.raises(Boom):
        asyncio.run(caller())


def test_as_sync_keeps_the_name_and_returns_the_value() -> None:
    sync = as_sync(body)
    assert not inspect.iscoroutinefunction(sync)
    assert sync.__name__ == "body" and sync(5)["value"] == 10


def make_bridge() -> tuple[ElasticAsyncFunction, list[str]]:
    calls: list[str] = []

    def in_task(*args: Any, **kwargs: Any) -> Any:
        calls.append("in_task")
        return as_sync(body)(*args, **kwargs)

    async def outside(*args: Any, **kwargs: Any) -> Any:
        calls.append("outside")
        return await body(*args, **kwargs)

    return ElasticAsyncFunction(body, in_task=in_task, outside=outside), calls


def test_the_bridge_looks_like_the_coroutine_function_it_replaces() -> None:
    bridge, _ = make_bridge()
    # Flyte decides "async task" from these, at construction and again in task.override().
    assert inspect.iscoroutinefunction(bridge)
    assert asyncio.iscoroutinefunction(bridge)
    assert str(inspect.signature(bridge)) == str(inspect.signature(body))
    assert (bridge.__name__, bridge.__doc__, bridge.__module__) == ("body", "The user's docstring.", __name__)
    assert bridge.__code__ is body.__code__


def test_inside_a_task_context_it_returns_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    bridge, calls = make_bridge()
    monkeypatch.setattr(_decorator, "_in_task_context", lambda: True)
    assert bridge(2)["value"] == 4  # what Elastic's launcher uses as the task output
    assert calls == ["in_task"]


def test_outside_a_task_context_it_returns_an_awaitable() -> None:
    bridge, calls = make_bridge()
    # No Flyte context: `await task(...)` in plain Python forwards to the function and awaits it.
    out = asyncio.run(bridge(2, scale=5))
    assert out["value"] == 10 and calls == ["outside"]
