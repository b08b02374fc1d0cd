"""Core finds this package and every function it calls here (the contract in core's ``_extras``)."""

from __future__ import annotations

import flyteplugins.wandb_distributed as distributed
from flyteplugins.wandb_core import _extras


def test_core_loads_this_package() -> None:
    assert _extras.distributed() is distributed


def test_every_function_core_calls_is_here() -> None:
    missing = [name for name in _extras.RANK_HOOKS if not callable(getattr(distributed, name, None))]
    assert missing == []
    assert set(_extras.RANK_HOOKS) <= set(distributed.__all__)
