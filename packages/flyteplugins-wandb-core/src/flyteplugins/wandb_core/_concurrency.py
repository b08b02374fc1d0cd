"""Where tracked async tasks open and finish their runs, and what of that is serialised.

``wandb.init`` and ``run.finish`` block (they wait on wandb's service), so async tasks run them in
threads. They get two thread pools of their own rather than the event loop's default executor:

- finishing never queues behind opening. In one shared pool a fan-out of 200 children opened all
  200 runs before the first could finish, so every run stayed open (and held memory in wandb-core)
  until the last child had started;
- neither queues behind unrelated ``asyncio.to_thread`` work of the task (or a sweep controller's).

Serialised is only what touches process-wide state: the first ``wandb.init`` of the process (it
starts wandb's service and reads its settings and credentials; later ones reuse them) and an init
with a ``reinit`` other than ``"create_new"`` (wandb then finishes or publishes global runs). Inits
with ``reinit="create_new"`` (the plugin's default) run concurrently: wandb keeps each run's state
and log routing apart and locks its shared service connection itself (checked on wandb 0.30-0.31).
Publishing ``wandb.run`` and friends stays under ``_lifecycle._init_lock``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

T = TypeVar("T")

# Measured on a 200-child fan-out (benchmarks/bench_fanout.py): each run being opened costs wandb-core
# memory, so concurrent opens trade memory for speed (1 open: 1.0x upstream's peak, +65 ms per
# child above plain wandb; 2: 1.3x, +26 ms; 8: 2.1x, +3 ms). Finishing mostly waits on the service
# and frees what the run held, so many finishes overlap usefully.
OPEN_WORKERS = 2
FINISH_WORKERS = 16

_pools: dict[str, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()

_exclusive = threading.Lock()
_service_ready = threading.Event()


def _pool(name: str, workers: int) -> ThreadPoolExecutor:
    with _pools_lock:
        pool = _pools.get(name)
        if pool is None:
            from concurrent.futures import ThreadPoolExecutor  # loaded by the first tracked async task

            pool = _pools[name] = ThreadPoolExecutor(workers, thread_name_prefix=f"flyteplugins-wandb-{name}")
        return pool


async def _in(name: str, workers: int, func: Callable[..., T], *args: Any) -> T:
    # Like asyncio.to_thread: the call sees the caller's contextvars (the current run, Flyte's context).
    call = functools.partial(contextvars.copy_context().run, func, *args)
    return await asyncio.get_running_loop().run_in_executor(_pool(name, workers), call)


async def opening(func: Callable[..., T], *args: Any) -> T:
    """Run ``func(*args)`` (a scope's open) in the pool that opens runs."""
    return await _in("open", OPEN_WORKERS, func, *args)


async def finishing(func: Callable[..., T], *args: Any) -> T:
    """Run ``func(*args)`` (a scope's close) in the pool that finishes runs."""
    return await _in("finish", FINISH_WORKERS, func, *args)


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
