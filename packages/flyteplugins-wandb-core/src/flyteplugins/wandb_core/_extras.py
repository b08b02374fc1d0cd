"""Optional sibling packages: lazy loading and the install hint for missing extras."""

from __future__ import annotations

import importlib
from types import ModuleType

# public name -> (module providing it, extra that installs it)
OPTIONAL_NAMES: dict[str, tuple[str, str]] = {
    "wandb_sweep": ("flyteplugins.wandb_sweeps", "sweeps"),
    "wandb_sweep_config": ("flyteplugins.wandb_sweeps", "sweeps"),
    "get_wandb_sweep_id": ("flyteplugins.wandb_sweeps", "sweeps"),
    "get_wandb_sweep_context": ("flyteplugins.wandb_sweeps", "sweeps"),
    "WandbSweep": ("flyteplugins.wandb_sweeps", "sweeps"),
    "run_sweep_agents": ("flyteplugins.wandb_sweeps", "sweeps"),
    "SweepResult": ("flyteplugins.wandb_sweeps", "sweeps"),
    "TrialResult": ("flyteplugins.wandb_sweeps", "sweeps"),
    "get_distributed_info": ("flyteplugins.wandb_distributed", "distributed"),
}

DISTRIBUTED_MODULE = "flyteplugins.wandb_distributed"


class MissingExtraError(ImportError):
    """A name from an optional package was requested but that package is not installed."""


def install_hint(extra: str) -> str:
    return f"pip install 'flyteplugins-wandb[{extra}]'"


def load_optional(name: str) -> object:
    module_name, extra = OPTIONAL_NAMES[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and not module_name.startswith(exc.name) and exc.name != module_name:
            raise  # a real missing dependency inside the installed package
        raise MissingExtraError(
            f"flyteplugins.wandb.{name} needs the '{extra}' extra, which is not installed. "
            f"Install it with: {install_hint(extra)}",
            name=module_name,
        ) from exc
    return getattr(module, name)


def try_distributed() -> ModuleType | None:
    try:
        return importlib.import_module(DISTRIBUTED_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name and DISTRIBUTED_MODULE.startswith(exc.name):
            return None
        raise
