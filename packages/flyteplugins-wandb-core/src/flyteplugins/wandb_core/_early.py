"""Sweep trials start their objective while their run opens (see docs/sweeps.md).

Until the open finishes the objective holds a `PendingRun`: config reads answer from the config the
run is being opened with, everything else waits for the real run, so nothing is lost or reordered.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import threading
from typing import TYPE_CHECKING, Any

from . import _concurrency
from ._runtime import OFFLINE_MODES
from ._state import ActiveRun, Forward, ForwardItems, registry

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
        # What the body sees while the run opens; filled in from the real ActiveRun once it is open.
        self.active = ActiveRun(
            run=self.proxy,
            run_id=plan.run_id,
            primary=plan.primary,
            plan=plan,
            offline=str(plan.init_kwargs.get("mode") or "") in OFFLINE_MODES,
            owner=True,
            pending=self,
        )
        registry.opening()  # from now until `run` ends, wandb's module API routes to the stand-in

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
            registry.opened()

    def wait(self) -> None:
        """Block until the run is open; raise what the open raised."""
        self.ready.wait()
        if self.error is not None:
            raise self.error


def eligible(scope: _Scope) -> bool:
    """Whether this call's run may open beside its body: not where ``on_error="raise"`` must fail the task
    before its body runs, nor for reused runs, distributed ranks or ``report=True`` tasks."""
    plan = scope.plan
    if plan is None or not scope.is_trial or plan.action != "init" or plan.on_error == "raise":
        return False
    return scope.dist is None and not (scope.is_task and getattr(scope.task, "report", False))


def start(scope: _Scope) -> PendingOpen | None:
    """Start opening an `eligible` call's run beside its body; None where it must open first."""
    if not eligible(scope):
        return None
    pending = PendingOpen(scope)
    # On the early-open pool, with the caller's contextvars (Flyte's context, the trial's): a body
    # that needs its run before its first await blocks its loop, so the open must not wait for it.
    _concurrency.pool("early-open", EARLY_OPEN_WORKERS).submit(contextvars.copy_context().run, pending.run)
    return pending


async def opened(pending: PendingOpen) -> None:
    """Wait for ``pending``'s open without blocking the event loop, even while being cancelled."""
    if pending.ready.is_set():
        return
    try:
        await asyncio.to_thread(pending.ready.wait)
    except asyncio.CancelledError:
        pending.ready.wait()  # rare: the task was cancelled; the run must still be closed


def settle(active: ActiveRun | None) -> ActiveRun | None:
    """``active`` once its run is open (it may still be opening beside its scope's body)."""
    if active is not None and active.pending is not None:
        active.pending.ready.wait()
    return active


class PendingRun(Forward):
    """The trial's run while it opens (no ``wandb.Run``): config reads answer at once, the rest waits."""

    __slots__ = ("_pending",)

    def __init__(self, pending: PendingOpen) -> None:
        object.__setattr__(self, "_pending", pending)

    def _target(self) -> Any:
        pending: PendingOpen = object.__getattribute__(self, "_pending")
        pending.wait()
        return pending.active.run

    def __getattr__(self, name: str) -> Any:
        pending: PendingOpen = object.__getattribute__(self, "_pending")
        if name == "config" and not pending.ready.is_set():
            return PlannedConfig(pending)
        return getattr(self._target(), name)

    def __bool__(self) -> bool:
        return True

    def __eq__(self, other: object) -> bool:
        return other is self or self._target() == other

    def __hash__(self) -> int:
        return hash(self._target())


# wandb.Config's methods: never answered from a config key of the same name.
_CONFIG_METHODS = frozenset({"keys", "items", "values", "as_dict", "update", "setdefaults"})


class PlannedConfig(ForwardItems):
    """``run.config`` of a run still opening: reads from the config it opens with, writes wait for it."""

    __slots__ = ("_pending",)

    def __init__(self, pending: PendingOpen) -> None:
        object.__setattr__(self, "_pending", pending)

    def _values(self) -> dict[str, Any]:
        pending: PendingOpen = object.__getattribute__(self, "_pending")
        return pending.config

    def _target(self) -> Any:
        pending: PendingOpen = object.__getattribute__(self, "_pending")
        pending.wait()
        return pending.active.run.config

    def __getattr__(self, name: str) -> Any:
        values = self._values()
        if name in values and name not in _CONFIG_METHODS:
            return values[name]
        return getattr(self._target(), name)

    def __getitem__(self, key: str) -> Any:
        values = self._values()
        return values[key] if key in values else self._target()[key]

    def get(self, key: str, default: Any = None) -> Any:
        values = self._values()
        return values[key] if key in values else self._target().get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._values() or key in self._target()
