"""The extension contract: what a package built on ``flyteplugins-wandb-core`` may use besides its public API.

Sibling packages and third-party extensions import from ``flyteplugins.wandb_core`` and from this module
only (ruff TID251 enforces it); these names are stable across minor releases. By purpose:

- Run plans (``flyteplugins-wandb-distributed``; the hooks core calls are listed in ``_extras``):
  `RunPlan` (what one tracked call does), `Topology` (its place in a torchrun job),
  `run_id_with_suffix()` (a per-worker id, shortened the way the Flyte link expects), and
  `install_sigterm_handler()` (core's one SIGTERM path, installed from the main thread: open runs
  are finished with exit code 128 + SIGTERM, then the previous handler runs).
- A sweep's trials: `trial_scope()` gives ``wandb.init`` overrides to the next tracked call in this
  context, `trial_context()` the ``custom_context`` keys that give them to a child action's task.
- Links: `WandbLink`, the base of `Wandb` and ``WandbSweep`` (a subclass writes ``url()``).
- Settings in ``custom_context``: `Field` describes one (``Field.choice``, ``Field.typed``, ... build
  checks with core's messages); a `FieldTable` owns their key layout and ``validate``;
  `ContextSettings` is the mapping users pass.
- `wandb_server()`: the API base URL for a host, and whether ``wandb login`` left credentials for it.
- Offline runs: `read_offline_run()` reads one back from its folder; `persist_offline_sweep()` keeps
  an offline sweep's definition in the Flyte run's storage for ``flyte wandb sync``.
- `is_tracked()`: the object is wrapped by ``@wandb_init``.
- `report_sweep()` writes a sweep section into the running task's W&B report tab.
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

if TYPE_CHECKING:  # pragma: no cover - resolved lazily below (the report code loads on first use)
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
