"""Sweep integration tests import their tasks from `sweep_tasks` (module level, as agents need)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import pytest
import sweep_tasks as st


@pytest.fixture(autouse=True)
def _settings():
    """Each test's changes to the sweep tasks' settings end with it."""
    saved = dict(st.SETTINGS)
    yield
    st.SETTINGS.clear()
    st.SETTINGS.update(saved)


# `wandb_server` (the fake W&B server) comes from flyteplugins-wandb-testing's pytest plugin.
