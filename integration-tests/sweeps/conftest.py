"""Sweep integration tests import their tasks from `sweep_tasks` (module level, as agents need)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
# `wandb_server` (the fake W&B server) comes from flyteplugins-wandb-testing's pytest plugin.
