"""Cluster-path tests import their task modules by name, as Flyte's resolver does inside a pod."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

# `wandb_server` (the fake W&B server) comes from flyteplugins-wandb-testing's pytest plugin.


@pytest.fixture(scope="module")
def s3() -> Iterator[dict[str, str]]:
    """An S3-compatible server on loopback with the cluster's bucket; yields the pods' store settings."""
    pytest.importorskip("moto.server")
    import cluster_s3

    with cluster_s3.object_store() as settings:
        yield settings
