"""Sweep integration tests import their tasks from `sweep_tasks` (module level, as agents need)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from wandb_loopback.pytest_plugin import wandb_server  # noqa: F401 - the loopback W&B server fixture
