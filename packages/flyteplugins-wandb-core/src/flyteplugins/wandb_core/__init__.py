"""Weights & Biases tracking for Flyte 2 tasks: put ``@wandb_init`` above ``@env.task``. Importing it does not
import ``wandb``; the optional packages' names resolve on first use, or raise `MissingExtraError`."""

import importlib
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

# Public helpers that import wandb or flyte.io (about 0.5 s): module -> names, loaded on first use.
_LAZY = {
    "_download": "download_wandb_run_dir download_wandb_sweep_dirs download_wandb_run_logs download_wandb_sweep_logs",
    "_artifacts": "log_wandb_artifact use_wandb_artifact",
    "_registry": "link_wandb_artifact",
    "_checkpoint": "Checkpoint save_wandb_checkpoint restore_wandb_checkpoint",
}
LAZY_MODULES = {name: module for module, names in _LAZY.items() for name in names.split()}

# The optional packages' names are not in __all__: `import *` must never need an extra.
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


def __getattr__(name: str) -> Any:
    if name in LAZY_MODULES:
        return getattr(importlib.import_module(f"{__name__}.{LAZY_MODULES[name]}"), name)
    if name in OPTIONAL_NAMES:
        return load_optional(name)
    raise AttributeError(f"module 'flyteplugins.wandb_core' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | set(OPTIONAL_NAMES))
