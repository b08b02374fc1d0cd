"""The extension contract: what a package built on ``flyteplugins-wandb-core`` may use besides its public API.

Siblings and extensions import ``flyteplugins.wandb_core`` and this module only (ruff TID251 enforces it);
these names are stable across minor releases. By purpose:

- Run plans (distributed): `RunPlan`, `Topology` (a place in a torchrun job), `run_id_with_suffix()` (a
  per-worker id, shortened as the Flyte link expects), `install_sigterm_handler()` (core's one SIGTERM path,
  from the main thread: open runs finish with exit code 128 + SIGTERM, then the previous handler runs).
- Sweep trials: `trial_scope()` gives ``wandb.init`` overrides to the next tracked call in this context,
  `trial_context()` the ``custom_context`` keys that give them to a child action's task.
- Links: `WandbLink`, the base of `Wandb` and ``WandbSweep``. Settings in ``custom_context``: `Field` (with
  checks carrying core's messages), `FieldTable` (key layout, ``validate``), `ContextSettings` (the mapping).
- `wandb_server()` (a host's API URL, and whether ``wandb login`` left credentials for it); `is_tracked()`;
  `read_offline_run()`, `persist_offline_sweep()` (for ``flyte wandb sync``), `report_sweep()` (report tab).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._config import ContextSettings
from ._decorator import MARKER as _MARKER
from ._link import WandbLink
from ._offline import read_offline_run
from ._persist import persist_sweep as persist_offline_sweep
from ._preempt import arm as install_sigterm_handler
from ._resolve import RunPlan, Topology, run_id_with_suffix
from ._runtime import wandb_server
from ._state import trial_context, trial_scope
from ._validate import Field, FieldTable

if TYPE_CHECKING:  # pragma: no cover - the report code loads on first use
    from ._report import report_sweep

__all__ = [
    "ContextSettings",
    "Field",
    "FieldTable",
    "RunPlan",
    "Topology",
    "WandbLink",
    "install_sigterm_handler",
    "is_tracked",
    "persist_offline_sweep",
    "read_offline_run",
    "report_sweep",
    "run_id_with_suffix",
    "trial_context",
    "trial_scope",
    "wandb_server",
]


def is_tracked(obj: object) -> bool:
    """``obj`` is a function wrapped by ``@wandb_init`` (directly, or as a Flyte task's ``func``)."""
    return hasattr(obj, _MARKER) or hasattr(getattr(obj, "func", None), _MARKER)


def __getattr__(name: str) -> Any:
    if name == "report_sweep":
        from ._report import report_sweep

        return report_sweep
    raise AttributeError(f"module 'flyteplugins.wandb_core.ext' has no attribute {name!r}")
