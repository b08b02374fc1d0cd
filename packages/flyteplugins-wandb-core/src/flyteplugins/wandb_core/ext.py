"""The extension contract: what a package built on ``flyteplugins-wandb-core`` may use besides its public API.

The sibling packages (``flyteplugins-wandb-sweeps``, ``flyteplugins-wandb-distributed``) and third-party
extensions import from ``flyteplugins.wandb_core`` (the user API: `wandb_init`, `Wandb`,
`WandbConfigError`, `get_wandb_context`, the download helpers ...) and from this module only; a lint
rule (ruff TID251) keeps the siblings off core's private modules. Names here are kept stable across
minor releases; everything else in core may change without notice. Sweep code that needs none of
core's internals lives in the sweeps package (the agent protocol, planning and launching trials);
what stays in core is on the run-open path (the trial scope, early open), draws the report tab, or is
public in the base install (the sweep download). What a sibling can learn from Flyte (a task is a
``flyte.TaskTemplate``), from its own package (W&B's sweep goals, the torchrun variables) or from an
object it already holds (``Field.wandb_mode()``, ``Wandb.for_ranks()``) is not repeated here. The
names, by purpose:

- Run plans (``flyteplugins-wandb-distributed``; core calls its module-level functions, the
  contract is written once in ``_extras``): `RunPlan` (what one tracked call does), `Topology` (its
  place in a torchrun job), `run_id_with_suffix()` (a per-worker id, shortened the way the Flyte
  link expects), and `install_sigterm_handler()`, which puts core's one SIGTERM path in place from
  the calling (main) thread (open runs are marked preempting and finished with exit code 128 +
  SIGTERM, then the previous handler runs).
- Runs opened for another component (a sweep's trials): `trial_scope()` gives ``wandb.init``
  overrides to the next tracked call in this context, `trial_context()` the ``custom_context`` keys
  that give them to a child action's tracked task (in another pod too).
- Links: `WandbLink`, the base of `Wandb` and ``WandbSweep`` (host/project/entity with the context's
  fallbacks; a subclass writes ``url()``).
- Settings objects in ``custom_context``: `Field` describes one once (name, encoding, role,
  default, check; ``Field.choice``, ``Field.typed``, ``Field.wandb_name`` and ``Field.wandb_mode``
  build checks with core's messages); a `FieldTable` of them owns the key layout (``encode`` /
  ``decode``) and ``validate`` (secrets, each field's check, JSON); `ContextSettings` is the mapping
  users pass.
- The W&B server: `wandb_server()` answers "where is W&B for this host, and did ``wandb login``
  leave credentials for it?" (the API base URL to give wandb, and the netrc check).
- Offline runs: `read_offline_run()` reads one back from its folder;
  `persist_offline_sweep()` keeps an offline sweep's definition in the Flyte run's storage (on a
  cluster), so that ``flyte wandb sync`` publishes its synced trials as one W&B sweep.
- Tracked objects: `is_tracked()`.
- The report tab: `report_sweep()` writes a sweep section into the running task's W&B tab, marking
  the best trial by the direction it is given (``maximize``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._config import ContextSettings
from ._decorator import MARKER as _MARKER
from ._fields import Field, FieldTable
from ._link import WandbLink
from ._offline import read_offline_run
from ._persist import persist_sweep as persist_offline_sweep
from ._preempt import arm as install_sigterm_handler
from ._resolve import RunPlan, Topology, run_id_with_suffix
from ._runtime import wandb_server
from ._state import trial_context, trial_scope

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
    # Lazy: the report code is only needed by report tasks.
    if name == "report_sweep":
        from ._report import report_sweep

        return report_sweep
    raise AttributeError(f"module 'flyteplugins.wandb_core.ext' has no attribute {name!r}")
