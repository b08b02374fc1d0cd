"""Cluster-path tests import their task modules by name, as Flyte's resolver does inside a pod."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

# `wandb_server` (the fake W&B server) comes from flyteplugins-wandb-testing's pytest plugin.
