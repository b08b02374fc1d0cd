"""Thread pools that open and finish runs, the backlog opens wait behind, and trial runs opening beside their body."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, TypeVar

from ._state import OFFLINE_MODES, ActiveRun, Forward, ForwardItems, registry

if TYPE_CHECKING:
    from ._scope import _Scope

T = TypeVar("T")

# Pools of their own: in one shared pool a 200-child fan-out opened all 200 runs before the first finished
# (benchmarks/bench_fanout.py). Finishing mostly waits on the service, so many finishes overlap usefully.
OPEN_WORKERS = 2
FINISH_WORKERS = 16
EARLY_OPEN_WORKERS = 4  # opens are GIL-bound: more threads only starve a sweep's controller loop
# A new run waits while BACKLOG runs are opened-not-resumed or finishing (neither waits on an open: no
# deadlock); an entry older than BACKLOG_WAIT_S (a finish stuck on a dead server) no longer counts.
# 200-child fan-out: without backpressure ~90 runs open, wandb-core 1.6x upstream's memory; with it ~19, 1.1x.
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
            _pools[name] = ThreadPoolExecutor(workers, thread_name_prefix=f"flyteplugins-wandb-{name}")
        return _pools[name]


async def _in(name: str, workers: int, func: Callable[[], T]) -> T:
    # Like asyncio.to_thread: the call sees the caller's contextvars (the current run, Flyte's context).
    call = functools.partial(contextvars.copy_context().run, func)
    return await asyncio.get_running_loop().run_in_executor(pool(name, workers), call)


def wait_for_backlog() -> None:
    deadline = time.monotonic() + BACKLOG_WAIT_S
    with _backlog_cv:
        while True:
            now = time.monotonic()
            held_up = sum(1 for since in _backlog_since.values() if now - since < BACKLOG_WAIT_S)
            if now >= deadline or held_up < BACKLOG:
                return
            _backlog_cv.wait(min(deadline - now, 0.25))


class _Entry:  # one run in the backlog from `join` until closed (once)
    _done = False

    def join(self) -> _Entry:
        with _backlog_cv:
            if not self._done:
                _backlog_since[id(self)] = time.monotonic()
        return self

    def close(self) -> None:
        with _backlog_cv:
            self._done = True
            if _backlog_since.pop(id(self), None) is not None:
                _backlog_cv.notify_all()


def finish_pending() -> closing[_Entry]:
    return closing(_Entry().join())


async def opening(func: Callable[..., T], *args: Any) -> T:
    entry = _Entry()

    def open_then_join() -> T:
        wait_for_backlog()
        try:
            return func(*args)
        finally:
            entry.join()  # opened: held up until the caller's task resumes on its loop

    with closing(entry):
        return await _in("open", OPEN_WORKERS, open_then_join)


async def finishing(func: Callable[..., T], *args: Any) -> T:
    # Released in the worker (a sync open blocking this loop must not wait for it), or here if cancelled first.
    entry = _Entry().join()

    def then_release() -> T:
        with closing(entry):
            return func(*args)

    with closing(entry):
        return await _in("finish", FINISH_WORKERS, then_release)


@contextmanager
def init_slot(reinit: Any) -> Iterator[None]:
    """Around a ``wandb.init``: alone for the first (it starts wandb's service) and without create_new."""
    with nullcontext() if _service_ready.is_set() and reinit == "create_new" else _exclusive:
        try:
            yield
        finally:
            _service_ready.set()  # even after a failed first init: the next one may start the service


class PendingOpen:
    def __init__(self, scope: _Scope) -> None:
        plan = scope.plan
        assert plan is not None
        self.scope = scope
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.config: dict[str, Any] = dict(plan.init_kwargs.get("config") or {})
        self.proxy = PendingRun(self)
        offline = str(plan.init_kwargs.get("mode") or "") in OFFLINE_MODES
        self.active = ActiveRun(self.proxy, plan.run_id, plan.primary, plan, offline, owner=True, pending=self)
        registry.opening()  # from now until `run` ends, wandb's module API routes to the stand-in

    def run(self) -> None:
        try:
            self.scope.open()
        except BaseException as exc:  # kept for the body's next run access and for the wrapper
            self.error = exc
        finally:
            # The stand-in the body holds becomes the real ActiveRun, field by field.
            self.active.__dict__.update(vars(self.scope.active or self.active), pending=None)
            self.ready.set()
            registry.opened()

    def wait(self) -> None:
        self.ready.wait()
        if self.error is not None:
            raise self.error


def eligible(scope: _Scope) -> bool:
    """A sweep trial's run may open beside its body, except with ``on_error="raise"`` (fails before the body),
    for reused runs, distributed ranks and ``report=True`` tasks."""
    plan = scope.plan
    if plan is None or not scope.is_trial or plan.action != "init" or plan.on_error == "raise":
        return False
    return scope.dist is None and not (scope.is_task and getattr(scope.task, "report", False))


def start(scope: _Scope) -> PendingOpen | None:
    """Start opening an `eligible` call's run beside its body; None where it must open first."""
    if not eligible(scope):
        return None
    pending = PendingOpen(scope)
    # In a thread: a body that needs its run before its first await blocks its loop.
    pool("early-open", EARLY_OPEN_WORKERS).submit(contextvars.copy_context().run, pending.run)
    return pending


async def opened(pending: PendingOpen) -> None:
    if pending.ready.is_set():
        return
    try:
        await asyncio.to_thread(pending.ready.wait)
    except asyncio.CancelledError:
        pending.ready.wait()  # rare: the task was cancelled; the run must still be closed


def settle(active: ActiveRun | None) -> ActiveRun | None:  # active once its run is open
    if active is not None and active.pending is not None:
        active.pending.ready.wait()
    return active


class PendingRun(Forward):  # the trial's run while it opens: config reads answer at once, the rest waits
    __slots__ = ("_pending",)
    _pending: PendingOpen

    def __init__(self, pending: PendingOpen) -> None:
        object.__setattr__(self, "_pending", pending)  # Forward's __setattr__ would forward it

    def _target(self) -> Any:
        self._pending.wait()
        return self._pending.active.run

    def __getattr__(self, name: str) -> Any:
        if name == "config" and not self._pending.ready.is_set():
            return PlannedConfig(self._pending)
        return getattr(self._target(), name)

    def __bool__(self) -> bool:
        return True

    def __eq__(self, other: object) -> bool:
        return other is self or self._target() == other

    def __hash__(self) -> int:
        return hash(self._target())


# wandb.Config's methods: never answered from a config key of the same name.
_CONFIG_METHODS = frozenset({"keys", "items", "values", "as_dict", "update", "setdefaults"})


class PlannedConfig(ForwardItems):  # run.config of a run still opening: reads the config it opens with, writes wait
    __slots__ = ("_pending",)
    _pending: PendingOpen

    def __init__(self, pending: PendingOpen) -> None:
        object.__setattr__(self, "_pending", pending)

    def _target(self) -> Any:
        self._pending.wait()
        return self._pending.active.run.config

    def __getattr__(self, name: str) -> Any:
        values = self._pending.config
        if name in values and name not in _CONFIG_METHODS:
            return values[name]
        return getattr(self._target(), name)

    def __getitem__(self, key: str) -> Any:
        return self._pending.config[key] if key in self._pending.config else self._target()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._pending.config[key] if key in self._pending.config else self._target().get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._pending.config or key in self._target()
