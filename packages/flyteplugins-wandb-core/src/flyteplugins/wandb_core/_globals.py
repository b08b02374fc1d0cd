"""Keep wandb's module-level API (``wandb.log``, ``wandb.run``, ``wandb.config``) usable in tracked code.

The plugin opens runs with ``reinit="create_new"`` so that concurrent tasks in one process each get
their own run; wandb then leaves the module globals unset, so plain ``wandb.log(...)`` (what most
training code and the W&B sweep examples call) would fail. After each init we publish the newest run
as ``wandb.run``/``wandb.config``/``wandb.summary``, like a plain ``wandb.init`` does, and route
``wandb.log`` to the run of the calling task or function (a contextvar lookup), so concurrent sibling
tasks never log into each other's runs. When a run finishes, the newest still-open run (if any) is
published again.
"""

from __future__ import annotations

from typing import Any

from . import _compat
from ._state import current, registry


def _routed_log(data: dict[str, Any] | None = None, *args: Any, **kwargs: Any) -> None:
    import wandb

    active = current()
    run = active.run if active is not None and active.run is not None else wandb.run
    if run is None:
        raise wandb.Error("You must call wandb.init() (or run inside a @wandb_init task) before wandb.log()")
    run.log(data if data is not None else {}, *args, **kwargs)


_routed_log.__doc__ = "wandb.log, routed to the run of the calling @wandb_init task or function."


def _publish(wandb: Any, run: Any) -> None:
    _compat.set_global_run(wandb, run)
    wandb.log = _routed_log


def after_init(run: Any) -> None:
    """Publish a freshly opened run; call with wandb's init lock held."""
    import wandb

    _publish(wandb, run)


def after_finish() -> None:
    """Re-publish the newest run still open in this process after wandb cleared its globals."""
    import wandb

    if wandb.run is not None and wandb.log is _routed_log:
        return
    newest = registry.newest()
    if newest is not None:
        _publish(wandb, newest)
    else:
        wandb.log = _routed_log
