"""Where tracked async tasks open and finish their runs, and what of that is serialised.

``wandb.init`` and ``run.finish`` block (they wait on wandb's service), so async tasks run them in
threads. They get two thread pools of their own rather than the event loop's default executor:

- finishing never queues behind opening. In one shared pool a fan-out of 200 children opened all
  200 runs before the first could finish, so every run stayed open (and held memory in wandb-core)
  until the last child had started;
- neither queues behind unrelated ``asyncio.to_thread`` work of the task (or a sweep controller's);
- opening waits while a backlog of runs is held up (opened but not yet resumed, or finishing; sync
  tasks too): otherwise opens outpace both and wandb-core holds ever more streams at once.

Serialised is only what touches process-wide state: the first ``wandb.init`` of the process (it
starts wandb's service and reads its settings and credentials; later ones reuse them) and an init
with a ``reinit`` other than ``"create_new"`` (wandb then finishes or publishes global runs). Inits
with ``reinit="create_new"`` (the plugin's default) run concurrently: wandb keeps each run's state
and log routing apart and locks its shared service connection itself (checked on wandb 0.30-0.31).
The plugin never writes wandb's globals (``_globals`` routes the module API by caller instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

T = TypeVar("T")

# Measured on a 200-child fan-out (benchmarks/bench_fanout.py): every stream wandb-core holds costs
# memory. With 2 opens at a time and no backpressure (below), ~90 runs were open at once and
# wandb-core peaked at 1.6x upstream's memory; with a backlog of 16, ~19 and 1.1x, at the same wall
# time. Finishing mostly waits on the service, so many finishes overlap usefully.
OPEN_WORKERS = 2
FINISH_WORKERS = 16
# Backpressure: a new run waits while BACKLOG runs are held up elsewhere: opened but their task not
# yet resumed on its (busy) event loop, or finishing (queued or running). Without it, opens outpace
# both in a fan-out and wandb-core's memory grows with every stream it holds. Neither resuming nor
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
        pool = _pools.get(name)
        if pool is None:
            from concurrent.futures import ThreadPoolExecutor  # loaded by the first tracked async task

            pool = _pools[name] = ThreadPoolExecutor(workers, thread_name_prefix=f"flyteplugins-wandb-{name}")
        return pool


async def _in(name: str, workers: int, func: Callable[..., T], *args: Any) -> T:
    # Like asyncio.to_thread: the call sees the caller's contextvars (the current run, Flyte's context).
    call = functools.partial(contextvars.copy_context().run, func, *args)
    return await asyncio.get_running_loop().run_in_executor(pool(name, workers), call)


def _backlog(now: float) -> int:
    return sum(1 for since in _backlog_since.values() if now - since < BACKLOG_WAIT_S)


def wait_for_backlog() -> None:
    """Before an open: block while ``BACKLOG`` runs are held up (``BACKLOG_WAIT_S`` at most)."""
    deadline = time.monotonic() + BACKLOG_WAIT_S
    with _backlog_cv:
        while True:
            now = time.monotonic()
            if now >= deadline or _backlog(now) < BACKLOG:
                return
            # Woken by every release; the timeout lets a stuck entry age out of the backlog.
            _backlog_cv.wait(min(deadline - now, 0.25))


class _Entry:
    """One run in the backlog; released once, by whichever side gets there first."""

    def __init__(self, *, join: bool = True) -> None:
        self._done = False
        if join:
            self.join()

    def join(self) -> None:
        with _backlog_cv:
            if not self._done:
                _backlog_since[id(self)] = time.monotonic()

    def release(self) -> None:
        with _backlog_cv:
            self._done = True
            if _backlog_since.pop(id(self), None) is not None:
                _backlog_cv.notify_all()


@contextlib.contextmanager
def finish_pending() -> Iterator[None]:
    """Count a finish in the backlog from now until it returns (sync tasks' close)."""
    entry = _Entry()
    try:
        yield
    finally:
        entry.release()


def _open_then_join(entry: _Entry, func: Callable[..., T], *args: Any) -> T:
    wait_for_backlog()
    try:
        return func(*args)
    finally:
        entry.join()  # opened: held up until the caller's task resumes on its loop


def _then_release(entry: _Entry, func: Callable[..., T], *args: Any) -> T:
    try:
        return func(*args)
    finally:
        entry.release()


async def opening(func: Callable[..., T], *args: Any) -> T:
    """Run ``func(*args)`` (a scope's open) in the pool that opens runs, behind the backlog."""
    entry = _Entry(join=False)
    try:
        return await _in("open", OPEN_WORKERS, _open_then_join, entry, func, *args)
    finally:
        entry.release()


async def finishing(func: Callable[..., T], *args: Any) -> T:
    """Run ``func(*args)`` (a scope's close) in the pool that finishes runs."""
    # In the backlog from submission (queued finishes hold memory too) until the call returns,
    # released in the worker thread: a sync open blocking this event loop must not wait for the loop
    # to resume. The coroutine releases too, for a call cancelled before a worker took it.
    entry = _Entry()
    try:
        return await _in("finish", FINISH_WORKERS, _then_release, entry, func, *args)
    finally:
        entry.release()


@contextlib.contextmanager
def init_slot(reinit: Any) -> Iterator[None]:
    """Hold around a ``wandb.init`` with this ``reinit``: alone when it must be, concurrently otherwise."""
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
