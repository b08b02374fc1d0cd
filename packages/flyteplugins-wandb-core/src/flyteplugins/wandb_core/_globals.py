"""Keep wandb's module-level API (``wandb.log``, ``wandb.config``, ``wandb.summary``) usable in tracked code.

The plugin opens runs with ``reinit="create_new"`` so that concurrent tasks in one process each get
their own run; wandb then leaves the module globals unset, so plain ``wandb.log(...)`` (what most
training code and the W&B sweep examples call) would fail. After each init the newest run is
published as ``wandb.run`` like a plain ``wandb.init`` does, but ``wandb.log``, ``wandb.config`` and
``wandb.summary`` are routed: each call goes to the run of the calling task or function (a contextvar
lookup), so concurrent sibling tasks and in-process sweep trials never log into, or read the
parameters of, each other's runs.

Code that runs outside any task's context (a ``threading.Thread`` or ``loop.run_in_executor`` worker
started by a task: neither copies contextvars) has no caller to route by. With one tracked run open
in the process that run is unambiguous; with several, guessing the newest would write into a
sibling's run, so the call raises `RunRoutingError` saying how to fix it.
"""

from __future__ import annotations

import threading
from typing import Any

from . import _compat
from ._state import current

_open_lock = threading.Lock()
_open_runs: list[Any] = []  # runs the plugin opened in this process, oldest first


class RunRoutingError(RuntimeError):
    """``wandb.log``/``wandb.config``/``wandb.summary`` used where the calling run cannot be known."""


def _still_open() -> list[Any]:
    with _open_lock:
        # A run finished behind our back (the SIGTERM handler, user code calling run.finish()).
        _open_runs[:] = [r for r in _open_runs if not _compat.is_finished(r)]
        return list(_open_runs)


def _calling_run(what: str) -> Any:
    """The run ``what`` (``wandb.log``, ``wandb.config``...) belongs to for the calling code."""
    import wandb

    active = current()
    if active is not None and active.run is not None:
        return active.run
    runs = _still_open()
    if len(runs) == 1:
        return runs[0]
    if len(runs) > 1:
        ids = ", ".join(str(getattr(r, "id", "?")) for r in runs)
        raise RunRoutingError(
            f"{what} was called outside any @wandb_init task or function while {len(runs)} tracked runs "
            f"are open in this process ({ids}), so it cannot tell which run it belongs to (a "
            "threading.Thread or run_in_executor worker does not inherit the task's context). Use "
            "get_wandb_run() in the task and pass the run to the worker, or run the worker inside the "
            "task's context: ctx = contextvars.copy_context(); then call ctx.run(fn, ...) in the thread."
        )
    run = wandb.run
    if run is None:
        raise wandb.Error(f"You must call wandb.init() (or run inside a @wandb_init task) before {what}")
    return run


def _routed_log(data: dict[str, Any] | None = None, *args: Any, **kwargs: Any) -> None:
    _calling_run("wandb.log()").log(data if data is not None else {}, *args, **kwargs)


_routed_log.__doc__ = "wandb.log, routed to the run of the calling @wandb_init task or function."


class _Routed:
    """Stands in for ``wandb.config`` / ``wandb.summary``: every access goes to the calling run's."""

    __slots__ = ("_attr",)

    def __init__(self, attr: str) -> None:
        object.__setattr__(self, "_attr", attr)

    def _target(self) -> Any:
        attr = object.__getattribute__(self, "_attr")
        return getattr(_calling_run(f"wandb.{attr}"), attr)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._target(), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self._target(), name)

    def __getitem__(self, key: str) -> Any:
        return self._target()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._target()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._target()[key]

    def __contains__(self, key: object) -> bool:
        return key in self._target()

    def __iter__(self) -> Any:
        return iter(self._target())

    def __len__(self) -> int:
        return len(self._target().keys())

    def __repr__(self) -> str:
        try:
            return repr(self._target())
        except Exception:
            return f"<wandb.{object.__getattribute__(self, '_attr')}: no run for this caller>"


routed_config = _Routed("config")
routed_summary = _Routed("summary")


def _route(wandb: Any) -> None:
    """Point ``wandb.log``/``config``/``summary`` at the routed stand-ins (they follow the caller)."""
    wandb.log = _routed_log
    wandb.config = routed_config
    wandb.summary = routed_summary


def _publish(wandb: Any, run: Any) -> None:
    _compat.set_global_run(wandb, run)
    _route(wandb)


def publish_pending(proxy: Any) -> None:
    """A sweep trial's run is opening beside its body (`_early`): its stand-in is ``wandb.run`` if nothing is.

    Call with wandb's init lock held. ``wandb.log``/``config``/``summary`` route by the caller, so
    they reach the stand-in through the trial's scope whatever ``wandb.run`` is.
    """
    import wandb

    if wandb.run is None:
        wandb.run = proxy
    _route(wandb)


def unpublish_pending(proxy: Any) -> None:
    """The stand-in's run is open (or failed to): the stand-in never stays ``wandb.run``."""
    import wandb

    if wandb.run is proxy:
        runs = _still_open()
        wandb.run = runs[-1] if runs else None


def after_init(run: Any) -> None:
    """Publish a freshly opened run; call with wandb's init lock held."""
    import wandb

    with _open_lock:
        _open_runs.append(run)
    _publish(wandb, run)


def after_finish(run: Any = None) -> None:
    """``run`` finished: re-publish the newest run still open after wandb cleared its globals."""
    import wandb

    with _open_lock:
        if run is not None and run in _open_runs:
            _open_runs.remove(run)
    runs = _still_open()
    if runs:
        if wandb.run is None or wandb.run is run:
            _compat.set_global_run(wandb, runs[-1])
        # Proxies standing in for wandb's Config/Summary: they route to the run that is open here.
        _route(wandb)
    else:
        # Nothing of ours is open: wandb's own placeholders ("call wandb.init() first") are right,
        # except wandb.log, which stays routed so a later user wandb.init is still reached.
        wandb.log = _routed_log
