"""Where this process sits in a torchrun / Flyte Elastic job, read from the launcher's environment."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from flyteplugins.wandb_core import WandbConfigError
from flyteplugins.wandb_core.ext import Topology

# Set by torchrun (torch.distributed.elastic) for every worker process; Flyte's Elastic plugin runs
# its workers through the same launcher, so one reader serves both.
ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK")


def _int(env: Mapping[str, str], name: str, default: int | None = None) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        if default is None:
            raise WandbConfigError(f"environment variable {name} is missing")
        return default
    try:
        return int(raw)
    except ValueError:
        raise WandbConfigError(
            f"environment variable {name}={raw!r} is not an integer; torchrun sets {', '.join(ENV_VARS)} to integers."
        ) from None


def detect_topology(env: Mapping[str, str]) -> Topology | None:
    """The topology described by ``env`` (``WORLD_SIZE`` > 1 and ``RANK``), else None; missing
    ``LOCAL_*``/``GROUP_*`` variables default to one node's values.

    Raises:
        WandbConfigError: A variable is not an integer, or the values contradict each other.
    """
    if env.get("WORLD_SIZE") is None or env.get("RANK") is None:
        return None
    world_size = _int(env, "WORLD_SIZE")
    if world_size <= 1:
        return None
    rank = _int(env, "RANK")
    local_world_size = _int(env, "LOCAL_WORLD_SIZE", world_size)
    local_rank = _int(env, "LOCAL_RANK", 0)
    if not 0 <= rank < world_size:
        raise WandbConfigError(f"RANK={rank} is outside 0..WORLD_SIZE-1 (WORLD_SIZE={world_size}).")
    if not 1 <= local_world_size <= world_size:
        raise WandbConfigError(f"LOCAL_WORLD_SIZE={local_world_size} must be between 1 and WORLD_SIZE={world_size}.")
    if not 0 <= local_rank < local_world_size:
        raise WandbConfigError(
            f"LOCAL_RANK={local_rank} is outside 0..LOCAL_WORLD_SIZE-1 (LOCAL_WORLD_SIZE={local_world_size})."
        )
    worker_index = _int(env, "GROUP_RANK", rank // local_world_size)
    num_workers = _int(env, "GROUP_WORLD_SIZE", -(-world_size // local_world_size))
    if not 0 <= worker_index < max(num_workers, 1):
        raise WandbConfigError(f"GROUP_RANK={worker_index} is outside 0..{num_workers - 1} workers.")
    return Topology(rank, local_rank, world_size, local_world_size, worker_index, num_workers)


def get_distributed_info() -> dict[str, Any] | None:
    """This process's place in a distributed job, or ``None`` when not running under torchrun/Elastic.

    Returns:
        ``{"rank", "local_rank", "world_size", "local_world_size", "worker_index", "num_workers"}``
        (all ints; a worker is a node).
    """
    topology = detect_topology(os.environ)
    return None if topology is None else dataclasses.asdict(topology)
