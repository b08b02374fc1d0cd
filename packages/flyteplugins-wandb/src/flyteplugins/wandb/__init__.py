"""Weights & Biases tracking for Flyte 2 tasks: the import surface users write.

``from flyteplugins.wandb import wandb_init, wandb_config, get_wandb_run`` and put ``@wandb_init`` above
``@env.task``. This module belongs to the ``flyteplugins-wandb`` distribution in every release (as it
did in 2.12), so ``pip install -U`` / downgrades never have two distributions owning the same files;
the implementation lives in ``flyteplugins.wandb_core`` and the optional packages.

Importing this package does not import ``wandb``. Names from the optional packages (sweeps,
distributed) resolve on first use and raise `MissingExtraError` naming the extra to install.
"""

# No `from __future__ import annotations` and no plain `import os`/`import typing` here: every name
# bound at module level shows in `vars()`, and the namespace is meant to hold the public API only.
import types as _types
import typing as _typing

import flyteplugins.wandb_core as _core
from flyteplugins.wandb_core import (
    OPTIONAL_NAMES as _OPTIONAL_NAMES,
)
from flyteplugins.wandb_core import (
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

if _typing.TYPE_CHECKING:  # pragma: no cover
    from flyteplugins.wandb_core import (
        Checkpoint,
        download_wandb_run_dir,
        download_wandb_run_logs,
        download_wandb_sweep_dirs,
        download_wandb_sweep_logs,
        link_wandb_artifact,
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
    "link_wandb_artifact",
    "log_wandb_artifact",
    "restore_wandb_checkpoint",
    "save_wandb_checkpoint",
    "use_wandb_artifact",
    "wandb_config",
    "wandb_init",
]
if sorted(__all__) != sorted(_core.__all__):  # pragma: no cover - a release with mismatched parts
    raise ImportError("flyteplugins-wandb and flyteplugins-wandb-core are at different versions")


def _module(name: str) -> _typing.Any:
    import importlib

    return importlib.import_module(name)


# Attributes of 2.12's module that its users' tests patch (`flyteplugins.wandb.os.makedirs`,
# `flyteplugins.wandb.wandb.Api`, `flyteplugins.wandb.flyte.ctx`): the real modules, so a patch of
# their attributes reaches the plugin too. Reachable by attribute access, not listed by `dir()`;
# `wandb` resolves on first use (importing it eagerly would cost every user about a second).
_COMPAT_MODULES = ("flyte", "os", "wandb")


def __getattr__(name: str) -> _typing.Any:
    if name in _COMPAT_MODULES:
        return _module(name)
    if name in _core.LAZY_NAMES or name in _OPTIONAL_NAMES:
        value = getattr(_core, name)
        globals()[name] = value  # resolve once
        return value
    raise AttributeError(f"module 'flyteplugins.wandb' has no attribute {name!r}")


def __dir__() -> list[str]:
    # The public API (optional names included: they resolve on first use, or raise MissingExtraError
    # naming the extra) and whichever public submodules are imported (`testing`).
    submodules = [
        n for n, v in globals().items() if not n.startswith("_") and isinstance(v, _types.ModuleType)
    ]
    return sorted({*__all__, *_OPTIONAL_NAMES, *submodules})
