"""Where tracked async tasks open and finish their runs, the backlog new opens wait behind, and which
``wandb.init`` calls must run alone (docs/architecture.md)."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

T = TypeVar("T")

# Pools of their own: in one shared pool a 200-child fan-out opened all 200 runs before the first could
# finish. On that fan-out (benchmarks/bench_fanout.py), 2 opens at a time without backpressure kept ~90
# runs open and wandb-core at 1.6x upstream's memory; with a backlog of 16, ~19 and 1.1x, in the same
# wall time. Finishing mostly waits on the service, so many finishes overlap usefully.
OPEN_WORKERS = 2
FINISH_WORKERS = 16
# Backpressure: a new run waits while BACKLOG runs are held up elsewhere: opened but their task not
# yet resumed on its (busy) event loop, or finishing (queued or running). Neither resuming nor
# finishing waits on an open, so an open waiting for them cannot deadlock (a run whose task is
# running, e.g. a parent awaiting its children, is not counted). An entry older than BACKLOG_WAIT_S
# (a finish stuck on a dead server) no longer counts, so it delays later runs once, not every one.
BACKLOG = 16
BACKLOG_WAIT_S = 5.0

_backlog_since: dict[int, float] = {}  # id(entry) -> when it joined the backlog (monotonic)
_backlog_cv = threading.Condition()

_pools: dict[str, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()

_exclusive = threading.Lock()
_service_ready = threading.Event()


def pool(name: str, workers: int) -> ThreadPoolExecutor:
    with _pools_lock:
        if name not in _pools:
            from concurrent.futures import ThreadPoolExecutor  # loaded by the first tracked async task

            _pools[name] = ThreadPoolExecutor(workers, thread_name_prefix=f"flyteplugins-wandb-{name}")
        return _pools[name]


async def _in(name: str, workers: int, func: Callable[[], T]) -> T:
    # Like asyncio.to_thread: the call sees the caller's contextvars (the current run, Flyte's context).
    call = functools.partial(contextvars.copy_context().run, func)
    return await asyncio.get_running_loop().run_in_executor(pool(name, workers), call)


def wait_for_backlog() -> None:
    """Before an open: block while ``BACKLOG`` runs are held up (``BACKLOG_WAIT_S`` at most)."""
    deadline = time.monotonic() + BACKLOG_WAIT_S
    with _backlog_cv:
        while True:
            now = time.monotonic()
            held_up = sum(1 for since in _backlog_since.values() if now - since < BACKLOG_WAIT_S)
            if now >= deadline or held_up < BACKLOG:
                return
            # Woken by every release; the timeout lets a stuck entry age out of the backlog.
            _backlog_cv.wait(min(deadline - now, 0.25))


class _Entry:
    """One run in the backlog from `join`; released once (a ``with`` block's end or `release`)."""

    def __init__(self) -> None:
        self._done = False

    def join(self) -> _Entry:
        with _backlog_cv:
            if not self._done:
                _backlog_since[id(self)] = time.monotonic()
        return self

    def release(self) -> None:
        with _backlog_cv:
            self._done = True
            if _backlog_since.pop(id(self), None) is not None:
                _backlog_cv.notify_all()

    def __enter__(self) -> _Entry:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def finish_pending() -> _Entry:
    """Count a finish in the backlog from now until its ``with`` block ends (sync tasks' close)."""
    return _Entry().join()


async def opening(func: Callable[..., T], *args: Any) -> T:
    """Run ``func(*args)`` (a scope's open) in the pool that opens runs, behind the backlog."""
    entry = _Entry()

    def open_then_join() -> T:
        wait_for_backlog()
        try:
            return func(*args)
        finally:
            entry.join()  # opened: held up until the caller's task resumes on its loop

    with entry:
        return await _in("open", OPEN_WORKERS, open_then_join)


async def finishing(func: Callable[..., T], *args: Any) -> T:
    """Run ``func(*args)`` (a scope's close) in the pool that finishes runs."""
    # In the backlog from submission (queued finishes hold memory too) until the call returns,
    # released in the worker thread: a sync open blocking this event loop must not wait for the loop
    # to resume. The coroutine releases too, for a call cancelled before a worker took it.
    entry = _Entry().join()

    def then_release() -> T:
        with entry:
            return func(*args)

    with entry:
        return await _in("finish", FINISH_WORKERS, then_release)


@contextmanager
def init_slot(reinit: Any) -> Iterator[None]:
    """Hold around a ``wandb.init``: alone for the process's first (it starts wandb's service) and where
    ``reinit`` is not ``"create_new"`` (wandb then touches its globals); concurrent otherwise."""
    if _service_ready.is_set() and reinit == "create_new":
        yield
        return
    with _exclusive:
        try:
            yield
        finally:
            # Set even when the first init failed: the next one may start the service, concurrently
            # with others exactly as wandb's own locks allow.
            _service_ready.set()
