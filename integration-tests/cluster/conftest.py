"""Cluster-path tests import their task modules by name, as Flyte's resolver does inside a pod."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

try:
    from wandb_loopback.pytest_plugin import wandb_server
except ImportError as exc:  # e.g. the torch venv, which lacks graphql-core
    _reason = f"the loopback W&B server cannot be imported here ({exc})"

    @pytest.fixture
    def wandb_server() -> None:
        pytest.skip(_reason)
