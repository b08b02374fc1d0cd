"""The extension contract: what a package built on core may use besides its public API (ruff TID251 bans the rest);
stable across minor releases. Distributed runs: `RunPlan`, `Topology`, `run_id_with_suffix()` (a per-worker id),
`install_sigterm_handler()` (from the main thread: open runs finish with exit code 128 + SIGTERM, then the previous
handler runs). Sweep trials: `trial_scope()` (``wandb.init`` overrides for the next tracked call), `trial_context()`
(the same for a child action). Links: `WandbLink`. Settings: `Field` (checks with core's messages), `FieldTable`,
`ContextSettings`. Also `wandb_server()` (a host's API URL, and whether it has credentials), `is_tracked()`,
`read_offline_run()`, `persist_offline_sweep()` (for ``flyte wandb sync``) and `report_sweep()` (report tab)."""

from typing import TYPE_CHECKING, Any

from ._config import ContextSettings
from ._decorator import MARKER as _MARKER
from ._link import WandbLink
from ._offline import read_offline_run
from ._persist import persist_sweep as persist_offline_sweep
from ._preempt import arm as install_sigterm_handler
from ._resolve import RunPlan, Topology, run_id_with_suffix
from ._state import trial_context, trial_scope, wandb_server
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
