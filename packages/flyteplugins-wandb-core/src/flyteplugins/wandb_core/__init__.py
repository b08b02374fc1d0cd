"""Weights & Biases tracking for Flyte 2 tasks.

``from flyteplugins.wandb_core import wandb_init, wandb_config, get_wandb_run`` and put ``@wandb_init`` above
``@env.task``. Importing this package does not import ``wandb``: the SDK is loaded when the first
tracked task or function runs. Names from the optional packages (sweeps, distributed) are resolved on
first use and raise an ImportError naming the extra to install when it is missing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._config import RankScope, RunMode, WandbConfig, get_wandb_context, wandb_config
from ._decorator import wandb_init
from ._extras import OPTIONAL_NAMES as OPTIONAL_NAMES  # the umbrella reads it
from ._extras import MissingExtraError, load_optional
from ._link import Wandb
from ._state import get_wandb_run, get_wandb_run_dir
from ._validate import WandbConfigError, WandbTrackingError

if TYPE_CHECKING:  # pragma: no cover
    from ._artifacts import log_wandb_artifact, use_wandb_artifact
    from ._checkpoint import Checkpoint, restore_wandb_checkpoint, save_wandb_checkpoint
    from ._download import (
        download_wandb_run_dir,
        download_wandb_run_logs,
        download_wandb_sweep_dirs,
        download_wandb_sweep_logs,
    )
    from ._registry import link_wandb_artifact

DOWNLOAD_NAMES = (
    "download_wandb_run_dir",
    "download_wandb_sweep_dirs",
    "download_wandb_run_logs",
    "download_wandb_sweep_logs",
)

# Artifact and checkpoint helpers: they import wandb / flyte.io when called, their modules on first use.
ARTIFACT_NAMES = {
    "log_wandb_artifact": "_artifacts",
    "use_wandb_artifact": "_artifacts",
    "link_wandb_artifact": "_registry",
    "Checkpoint": "_checkpoint",
    "save_wandb_checkpoint": "_checkpoint",
    "restore_wandb_checkpoint": "_checkpoint",
}

__all__ = [
    "Checkpoint",
    "MissingExtraError",
    "RankScope",
    "RunMode",
    "Wandb",
    "WandbConfig",
    "WandbConfigError",
    "WandbTrackingError",
    "download_wandb_run_dir",
    "download_wandb_run_logs",
    "download_wandb_sweep_dirs",
    "download_wandb_sweep_logs",
    "get_wandb_context",
    "get_wandb_run",
    "get_wandb_run_dir",
    "link_wandb_artifact",
    "log_wandb_artifact",
    "restore_wandb_checkpoint",
    "save_wandb_checkpoint",
    "use_wandb_artifact",
    "wandb_config",
    "wandb_init",
]

# The download helpers are public (in __all__) but import flyte.io, so they resolve on first use.
# The optional packages' names are deliberately not in __all__: `import *` must never need an extra.
LAZY_NAMES = frozenset(DOWNLOAD_NAMES) | frozenset(ARTIFACT_NAMES)


def __getattr__(name: str) -> Any:
    # Download helpers import flyte.io (about 0.5 s), so they load on first use only.
    if name in DOWNLOAD_NAMES:
        from . import _download

        return getattr(_download, name)
    if name in ARTIFACT_NAMES:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{ARTIFACT_NAMES[name]}"), name)
    if name in OPTIONAL_NAMES:
        return load_optional(name)
    raise AttributeError(f"module 'flyteplugins.wandb_core' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | set(OPTIONAL_NAMES))
