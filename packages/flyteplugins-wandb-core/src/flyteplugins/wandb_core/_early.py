"""Sweep trials start their objective while their run opens.

A trial's parameters are chosen before its run exists, and ``wandb.init`` costs 10-30 ms of
GIL-bound Python per run: 20 trials starting together queue ~0.3 s for the last init (measured
with plain wandb on 2 cores, benchmarks/bench_sweeps.py). So a trial's scope opens its run on a
small shared pool (`EARLY_OPEN_WORKERS`) and runs the objective at once. Until the open finishes,
the objective holds a `PendingRun`: reading the trial's config (``run.config.lr``,
``wandb.config["lr"]``) answers from the config the run is being opened with, and everything else
(``log``, ``summary``, ``id``, ``dir``...) waits for the open, then goes to the real run. Nothing
is logged before the run exists, so nothing is lost or reordered; the wait is what a plain open
would have cost anyway.

Only for runs this scope opens with ``on_error="continue"`` (the default): ``on_error="raise"``
must fail the task before its body runs. Not for runs reused from a parent, distributed ranks or
``report=True`` tasks.
"""

from __future__ import annotations

import contextvars
import dataclasses
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ._state import ActiveRun

if TYPE_CHECKING:  # pragma: no cover
    from ._scope import _Scope


# Opens run GIL-bound Python: more threads than this only starve the sweep's controller loop (20
# trials took 0.3 s longer to launch with a thread per open); a few overlap the server round trips.
EARLY_OPEN_WORKERS = 4


class PendingOpen:
    """One scope's run being opened on a thread while its body runs."""

    def __init__(self, scope: _Scope) -> None:
        plan = scope.plan
        assert plan is not None
        self.scope = scope
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.config: dict[str, Any] = dict(plan.init_kwargs.get("config") or {})
        self.proxy = PendingRun(self)
        from ._lifecycle import _OFFLINE_MODES  # at call time: importing core stays light

        mode = str(plan.init_kwargs.get("mode") or "")
        # What the body sees while the run opens; filled in from the real ActiveRun once it is open.
        self.active = ActiveRun(
            run=self.proxy,
            run_id=plan.run_id,
            primary=plan.primary,
            plan=plan,
            offline=mode in _OFFLINE_MODES,
            owner=True,
            pending=self,
        )
        # From now until `run` ends, wandb's module API routes (to the stand-in while it opens).
        from ._state import registry

        registry.opening()

    def start(self) -> None:
        """Open on the early-open pool (with the caller's contextvars: Flyte's context, the trial's)."""
        from . import _concurrency

        context = contextvars.copy_context()
        _concurrency.pool("early-open", EARLY_OPEN_WORKERS).submit(context.run, self.run)

    def run(self) -> None:
        try:
            self.scope.open()
        except BaseException as exc:  # kept for the body's next run access and for the wrapper
            self.error = exc
        finally:
            real = self.scope.active
            if real is not None:
                for f in dataclasses.fields(real):
                    if f.name != "pending":
                        setattr(self.active, f.name, getattr(real, f.name))
            self.active.pending = None
            self.ready.set()
            from ._state import registry

            registry.opened()

    def wait(self) -> None:
        """Block until the run is open; raise what the open raised."""
        self.ready.wait()
        if self.error is not None:
            raise self.error


async def opened(pending: PendingOpen) -> None:
    """Wait for ``pending``'s open without blocking the event loop, even while being cancelled."""
    import asyncio

    if pending.ready.is_set():
        return
    try:
        await asyncio.to_thread(pending.ready.wait)
    except asyncio.CancelledError:
        pending.ready.wait()  # rare: the task was cancelled; the run must still be closed


def settle(active: ActiveRun | None) -> ActiveRun | None:
    """``active`` once its run is open (it may still be opening beside its scope's body)."""
    pending = active.pending if active is not None else None
    if pending is not None:
        pending.ready.wait()
    return active


class PendingRun:
    """The trial's run while it opens: config reads answer at once, everything else waits for the run.

    A plain object (it does not pretend to be a ``wandb.Run``): once the run is open, `get_wandb_run()`
    and ``wandb.run`` return the real run, which is what type checks should look at.
    """

    __slots__ = ("_pending",)

    def __init__(self, pending: PendingOpen) -> None:
        object.__setattr__(self, "_pending", pending)

    def _run(self) -> Any:
        pending: PendingOpen = object.__getattribute__(self, "_pending")
        pending.wait()
        return pending.active.run

    def __getattr__(self, name: str) -> Any:
        pending: PendingOpen = object.__getattribute__(self, "_pending")
        if name == "config" and not pending.ready.is_set():
            return PlannedConfig(pending)
        return getattr(self._run(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._run(), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self._run(), name)

    def __bool__(self) -> bool:
        return True

    def __eq__(self, other: object) -> bool:
        return other is self or self._run() == other

    def __hash__(self) -> int:
        return hash(self._run())

    def __repr__(self) -> str:
        return repr(self._run())


class PlannedConfig:
    """``run.config`` of a run still opening: reads from the config it opens with, writes wait for it."""

    __slots__ = ("_pending",)

    def __init__(self, pending: PendingOpen) -> None:
        object.__setattr__(self, "_pending", pending)

    def _values(self) -> dict[str, Any]:
        pending: PendingOpen = object.__getattribute__(self, "_pending")
        return pending.config

    def _real(self) -> Any:
        pending: PendingOpen = object.__getattribute__(self, "_pending")
        pending.wait()
        return pending.active.run.config

    def __getattr__(self, name: str) -> Any:
        values = self._values()
        if name in values:
            return values[name]
        return getattr(self._real(), name)

    def __getitem__(self, key: str) -> Any:
        values = self._values()
        if key in values:
            return values[key]
        return self._real()[key]

    def get(self, key: str, default: Any = None) -> Any:
        values = self._values()
        if key in values:
            return values[key]
        return self._real().get(key, default)

    def keys(self) -> Any:
        return self._real().keys()

    def items(self) -> Any:
        return self._real().items()

    def values(self) -> Any:
        return self._real().values()

    def as_dict(self) -> Any:
        return self._real().as_dict()

    def __contains__(self, key: object) -> bool:
        return key in self._values() or key in self._real()

    def __iter__(self) -> Iterator[str]:
        return iter(self._real())

    def __len__(self) -> int:
        return len(self._real().keys())

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._real(), name, value)

    def __setitem__(self, key: str, value: Any) -> None:
        self._real()[key] = value

    def __delattr__(self, name: str) -> None:
        delattr(self._real(), name)

    def __delitem__(self, key: str) -> None:
        del self._real()[key]

    def update(self, *args: Any, **kwargs: Any) -> Any:
        return self._real().update(*args, **kwargs)

    def setdefaults(self, *args: Any, **kwargs: Any) -> Any:
        return self._real().setdefaults(*args, **kwargs)

    def __repr__(self) -> str:
        return repr(self._real())


def eligible(scope: _Scope) -> bool:
    """Whether this call's run may open beside its body (see the module docstring)."""
    plan = scope.plan
    if plan is None or not scope.is_trial:
        return False
    return (
        plan.action == "init"
        and plan.on_error != "raise"
        and scope.dist is None
        and not (scope.is_task and getattr(scope.task, "report", False))
    )
