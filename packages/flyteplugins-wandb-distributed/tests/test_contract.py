"""Core finds this package and every function it calls here (the contract in core's ``_extras``)."""

from __future__ import annotations

import flyteplugins.wandb_distributed as distributed
from flyteplugins.wandb_core import _extras

# The functions core calls on this package (docs/architecture.md lists when and why).
RANK_HOOKS = (
    "check_task",
    "links_for_task",
    "is_distributed_task",
    "detect_topology",
    "resolve_distributed",
    "on_run_open",
)


def test_core_loads_this_package() -> None:
    assert _extras.distributed() is distributed


def test_every_function_core_calls_is_here() -> None:
    missing = [name for name in RANK_HOOKS if not callable(getattr(distributed, name, None))]
    assert missing == []
    assert set(RANK_HOOKS) <= set(distributed.__all__)
