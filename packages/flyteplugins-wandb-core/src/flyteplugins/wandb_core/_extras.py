"""Optional sibling packages: lazy loading, install hints, and the rank hooks (docs/architecture.md)."""

import importlib
import warnings
from collections.abc import Mapping
from types import ModuleType
from typing import TYPE_CHECKING, NamedTuple

from ._state import world_size

if TYPE_CHECKING:  # pragma: no cover - ext imports the decorator, which imports this module
    from ._resolve import RunPlan, Topology

_SWEEP_NAMES = """wandb_sweep wandb_sweep_config get_wandb_sweep_id get_wandb_sweep_context WandbSweep run_sweep_agents
    SweepResult TrialResult OptunaEngine"""
# public name -> (module providing it, extra that installs it)
OPTIONAL_NAMES: dict[str, tuple[str, str]] = {
    **dict.fromkeys(_SWEEP_NAMES.split(), ("flyteplugins.wandb_sweeps", "sweeps")),
    "get_distributed_info": ("flyteplugins.wandb_distributed", "distributed"),
}


class MissingExtraError(ImportError):
    """A name from an optional package was requested but that package is not installed."""


def install_hint(extra: str) -> str:
    return f"pip install 'flyteplugins-wandb[{extra}]'"


def _import(module_name: str) -> ModuleType | None:  # None when not installed (a dependency missing inside it raises)
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            return None
        raise


def load_optional(name: str) -> object:
    module_name, extra = OPTIONAL_NAMES[name]
    if (module := _import(module_name)) is None:
        raise MissingExtraError(
            f"flyteplugins.wandb.{name} needs the '{extra}' extra, which is not installed. "
            f"Install it with: {install_hint(extra)}",
            name=module_name,
        )
    return getattr(module, name)


def distributed() -> ModuleType | None:
    return _import("flyteplugins.wandb_distributed")


class Distribution(NamedTuple):  # topology and rank handler in a torchrun job, or rank0_only (no rank handling)
    topology: "Topology | None" = None
    handler: ModuleType | None = None
    rank0_only: bool = False


NOT_DISTRIBUTED = Distribution()
_warned_no_distributed = False


def distribution(env: Mapping[str, str]) -> Distribution:  # WORLD_SIZE > 1: warns once if rank handling is missing
    global _warned_no_distributed
    if (size := world_size(env)) <= 1:
        return NOT_DISTRIBUTED
    if (handler := distributed()) is None:
        if not _warned_no_distributed:
            _warned_no_distributed = True
            warnings.warn(
                f"@wandb_init runs under torchrun (WORLD_SIZE={size}) but rank handling is not installed, so only "
                f"global rank 0 will log. Install it with: {install_hint('distributed')}",
                RuntimeWarning,
                stacklevel=3,  # the tracked task's wrapper
            )
        return Distribution(rank0_only=True)
    topology = handler.detect_topology(env)
    return NOT_DISTRIBUTED if topology is None else Distribution(topology=topology, handler=handler)


def is_elastic(task: object) -> bool:  # under Flyte's Elastic plugin (by class name: no flyteplugins-pytorch import)
    return type(getattr(task, "plugin_config", None)).__name__ == "Elastic"


def skip_download_if_distributed(plan: "RunPlan", task: object) -> None:
    """Turn ``download_logs`` off, warned, if the task's Elastic config asks for several processes (local mode too)."""
    if not is_elastic(task) or (handler := distributed()) is None or not handler.is_distributed_task(task):
        return
    plan.download_logs = False
    warnings.warn(
        f"Task {getattr(task, 'name', task)!r}: download_logs=True is not supported for distributed "
        "(Elastic) tasks; skipping the download.",
        RuntimeWarning,
        stacklevel=4,
    )
