"""The sweep-agent calls of ``wandb_sweeps._compat``: present on the installed wandb.

The version-matrix session runs this on the oldest and newest supported wandb, so a release that
moves both spellings of a call fails here, naming the helper to update.
"""

from __future__ import annotations

import importlib

import pytest

# The public-API helpers from wandb 0.30, and before them (0.28.2 .. 0.29) the InternalApi methods
# _compat falls back to. One of each pair must exist on the installed wandb.
SWEEP_AGENT_NAMES = [
    (("wandb.apis.public.sweeps", "_register_agent"), ("wandb.apis", "InternalApi.register_agent")),
    (("wandb.apis.public.sweeps", "_agent_heartbeat"), ("wandb.apis", "InternalApi.agent_heartbeat")),
]


def _present(module: str, dotted: str) -> bool:
    obj: object = importlib.import_module(module)
    for part in dotted.split("."):
        if not hasattr(obj, part):
            return False
        obj = getattr(obj, part)
    return True


@pytest.mark.parametrize(("current", "fallback"), SWEEP_AGENT_NAMES)
def test_the_sweep_agent_calls_or_their_fallback_exist_on_this_wandb(
    current: tuple[str, str], fallback: tuple[str, str]
) -> None:
    assert _present(*current) or _present(*fallback), f"{current} and {fallback} both moved: update _compat"
