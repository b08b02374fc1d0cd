"""Weights & Biases tracking for Flyte 2 tasks: the import surface users write.

``from flyteplugins.wandb import wandb_init, wandb_config, get_wandb_run`` and put ``@wandb_init`` above
``@env.task``. This module belongs to the ``flyteplugins-wandb`` distribution in every release (as it
did in 2.12), so ``pip install -U`` / downgrades never have two distributions owning the same files;
the implementation lives in ``flyteplugins.wandb_core`` and the optional packages.

Importing this package does not import ``wandb``. Names from the optional packages (sweeps,
distributed) resolve on first use and raise `MissingExtraError` naming the extra to install.
"""

from __future__ import annotations

# Also patched by 2.12-era tests (`flyteplugins.wandb.os.makedirs`, `flyteplugins.wandb.wandb.Api`):
# `os` is here, `wandb` resolves lazily below (importing it eagerly would cost every user ~1 s).
import os  # noqa: F401
from typing import TYPE_CHECKING, Any

# 2.12's module imported flyte at top level and its users' tests patch `flyteplugins.wandb.flyte.ctx`;
# the core imports flyte anyway (for flyte.Link), so this costs nothing.
import flyte  # noqa: F401

import flyteplugins.wandb_core as _core
from flyteplugins.wandb_core import (
    OPTIONAL_NAMES,
    MissingExtraError,
    RankScope,
    RunMode,
    Wandb,
    WandbConfig,
    WandbConfigError,
    WandbTrackingError,
    get_wandb_context,
    get_wandb_run,
    get_wandb_run_dir,
    wandb_config,
    wandb_init,
)

if TYPE_CHECKING:  # pragma: no cover
    from flyteplugins.wandb_core import (
        Checkpoint,
        download_wandb_run_dir,
        download_wandb_run_logs,
        download_wandb_sweep_dirs,
        download_wandb_sweep_logs,
        log_wandb_artifact,
        restore_wandb_checkpoint,
        save_wandb_checkpoint,
        use_wandb_artifact,
    )

# Only names that resolve with the base install: `from flyteplugins.wandb import *` must work without
# any extra. The optional names are still importable by name (see __getattr__).
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
    "log_wandb_artifact",
    "restore_wandb_checkpoint",
    "save_wandb_checkpoint",
    "use_wandb_artifact",
    "wandb_config",
    "wandb_init",
]
if sorted(__all__) != sorted(_core.__all__):  # pragma: no cover - a release with mismatched parts
    raise ImportError("flyteplugins-wandb and flyteplugins-wandb-core are at different versions")


def __getattr__(name: str) -> Any:
    if name == "wandb":  # the real module, so patches of its attributes reach the plugin too
        import wandb

        globals()["wandb"] = wandb
        return wandb
    if name in _core.LAZY_NAMES or name in OPTIONAL_NAMES:
        value = getattr(_core, name)
        globals()[name] = value  # resolve once
        return value
    raise AttributeError(f"module 'flyteplugins.wandb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | set(OPTIONAL_NAMES))
