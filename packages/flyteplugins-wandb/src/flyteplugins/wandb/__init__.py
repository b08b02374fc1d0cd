"""Weights & Biases tracking for Flyte 2 tasks: put ``@wandb_init`` above ``@env.task``. The code lives in
``flyteplugins.wandb_core`` and the optional packages, whose names resolve on first use."""

# Every name bound here shows in `vars()`, which is meant to hold the public API only: no plain imports.
import importlib as _importlib
import importlib.util as _importlib_util
import types as _types
import typing as _typing

import flyteplugins.wandb_core as _core
from flyteplugins.wandb_core import OPTIONAL_NAMES as _OPTIONAL_NAMES

# ruff: noqa: F401, F403 - core's names for type checkers and the docs build; at run time __getattr__ gives them.
if _typing.TYPE_CHECKING:  # pragma: no cover
    from flyteplugins.wandb_core import *

    # Core resolves these lazily, so static readers (griffe, pyright) do not find them through `*`.
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

# `import *` needs no extra: core's names, and as in 2.12 an installed extra's (`find_spec` does not import it).
__all__ = [*_core.__all__]
__all__ += [name for name, (module, _) in _OPTIONAL_NAMES.items() if _importlib_util.find_spec(module) is not None]


def __getattr__(name: str) -> _typing.Any:
    # 2.12's module attributes its users' tests patch (`flyteplugins.wandb.wandb.Api`): the real modules.
    if name in ("flyte", "os", "wandb"):
        return _importlib.import_module(name)
    if name in __all__ or name in _OPTIONAL_NAMES:
        return globals().setdefault(name, getattr(_core, name))  # resolve once
    raise AttributeError(f"module 'flyteplugins.wandb' has no attribute {name!r}")


def __dir__() -> list[str]:
    submodules = [n for n, v in globals().items() if not n.startswith("_") and isinstance(v, _types.ModuleType)]
    return sorted({*__all__, *_OPTIONAL_NAMES, *submodules})
