"""Decoration of Flyte Elastic (torch distributed) tasks: early checks, links and the task function.

Rank handling (``flyteplugins-wandb-distributed``) decides checks and links; without it the task keeps
one ordinary link and a warning says only global rank 0 will log.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from typing import Any

from . import _extras
from ._link import Wandb

# _scope._wrap: (function, settings, is_task=..., task=...) -> tracked wrapper
Wrap = Callable[..., Callable[..., Any]]


def check(task: Any, settings: dict[str, Any]) -> None:
    """Refuse or warn about settings that cannot work on this Elastic task (rank handling's checks)."""
    handler = _extras.distributed()
    if handler is not None:
        handler.check_task(task, settings)


def links(task: Any, link_args: dict[str, Any], settings: dict[str, Any]) -> tuple[Any, ...]:
    """The Flyte UI links of an Elastic task."""
    handler = _extras.distributed()
    if handler is None:
        warnings.warn(
            f"Task {task.name!r} uses Elastic but rank handling is not installed; only global rank 0 "
            f"will log. Install it with: {_extras.install_hint('distributed')}",
            RuntimeWarning,
            stacklevel=5,
        )
        return (Wandb(**link_args),)
    return tuple(handler.links_for_task(task, link_args, settings))


def task_function(
    task: Any, func: Callable[..., Any], settings: dict[str, Any], wrap: Wrap, marker: str
) -> Callable[..., Any]:
    """The tracked function that replaces ``task.func``."""
    if not inspect.iscoroutinefunction(func):
        return wrap(func, settings, is_task=True, task=task)
    from ._bridge import ElasticAsyncFunction, as_sync

    bridge = ElasticAsyncFunction(
        func,
        in_task=wrap(as_sync(func), settings, is_task=True, task=task),
        outside=wrap(func, settings, is_task=True, task=task),
    )
    setattr(bridge, marker, settings)
    return bridge
