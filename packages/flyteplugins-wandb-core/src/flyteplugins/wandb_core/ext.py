"""The extension contract: everything a package built on ``flyteplugins-wandb-core`` may use.

The sibling packages (``flyteplugins-wandb-sweeps``, ``flyteplugins-wandb-distributed``) and third-party
extensions import from ``flyteplugins.wandb_core`` (the user API) and from this module only; a lint rule
(ruff TID251) keeps the siblings off core's private modules. Names here are kept stable across
minor releases; everything else in core may change without notice.

What is here:

- Run plans: `RunPlan` (what one tracked call does), `TaskInfo` (where it runs),
  `Topology` (its place in a torchrun job), `ActiveRun` (an opened run).
  ``flyteplugins-wandb-distributed`` builds on them; core calls its module-level functions (the
  contract is written once, in ``_extras``).
- Sweep trials: `trial_scope()` (in-process), and
  `TRIAL_CONTEXT_KEY` (the same overrides as JSON in a trial action's ``custom_context``);
  `RUN_ID_KEY` is the context key of the run a task's children log into.
- Hosts and credentials: `ui_host()`, `api_base_url()`, `has_netrc_credentials()`.
- Offline runs: `read_offline_run()` / `read_offline_runs()` and `OfflineRun`;
  `persist_offline_sweep()` keeps an offline sweep's definition in the Flyte run's storage (on a
  cluster), so that ``flyte wandb sync`` publishes its synced trials as one W&B sweep.
- Tracked objects: `is_tracked()`, `is_flyte_task()`.
- Preemption: `install_sigterm_handler()` puts core's one SIGTERM path in place from the calling
  (main) thread: open runs are marked preempting and finished with `PREEMPTED_EXIT_CODE`, then the
  previous handler runs. Runs opened by core register with it on their own.
- Settings tables: `Field` / `FieldTable` describe a ``custom_context`` settings object once (name,
  encoding, role, default, check), as core does for ``wandb_config``.
- Validation helpers with the core's error messages, context encoding, links (and the link-field
  defaults `Default`, `given()`, `fill_defaults()`, and the fallbacks `pick()`,
  `link_host()`, `project_url()`) and the report tab.
- :data:`OPTIONAL_NAMES`: the public names the optional packages provide (for the umbrella's lazy
  re-exports), mapped to (module, extra).
- The wandb private-API helpers extensions need (sweep agent protocol), version-checked in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._compat import register_sweep_agent, sweep_agent_heartbeat
from ._config import RUN_ID_KEY, ContextSettings, decode_settings, encode_settings, get_wandb_context
from ._decorator import MARKER as _MARKER
from ._decorator import _is_flyte_task
from ._extras import OPTIONAL_NAMES
from ._fields import Field, FieldTable
from ._link import WANDB_ICON, Default, Wandb, fill_defaults, given, link_host, pick, project_url
from ._offline import OfflineRun, read_offline_run, read_offline_runs
from ._persist import persist_sweep as persist_offline_sweep
from ._preempt import PREEMPTED_EXIT_CODE
from ._preempt import arm as install_sigterm_handler
from ._resolve import (
    RunPlan,
    TaskInfo,
    Topology,
    api_base_url,
    run_id_with_suffix,
    ui_host,
)
from ._runtime import DEFAULT_HOST, has_netrc_credentials, world_size
from ._state import TRIAL_CONTEXT_KEY, ActiveRun, trial_scope
from ._validate import (
    WANDB_MODES,
    WandbConfigError,
    check_choice,
    check_json,
    check_no_secret_arguments,
    check_no_secret_values,
    check_wandb_name,
)

if TYPE_CHECKING:  # pragma: no cover - resolved lazily below (these import flyte.io / report code)
    from ._download import download_wandb_sweep_logs
    from ._report import report_sweep

__all__ = [
    "DEFAULT_HOST",
    "OPTIONAL_NAMES",
    "PREEMPTED_EXIT_CODE",
    "RUN_ID_KEY",
    "TRIAL_CONTEXT_KEY",
    "WANDB_ICON",
    "WANDB_MODES",
    "ActiveRun",
    "ContextSettings",
    "Default",
    "Field",
    "FieldTable",
    "OfflineRun",
    "RunPlan",
    "TaskInfo",
    "Topology",
    "Wandb",
    "WandbConfigError",
    "api_base_url",
    "check_choice",
    "check_json",
    "check_no_secret_arguments",
    "check_no_secret_values",
    "check_wandb_name",
    "decode_settings",
    "distributed_link",
    "download_wandb_sweep_logs",
    "encode_settings",
    "fill_defaults",
    "get_wandb_context",
    "given",
    "has_netrc_credentials",
    "install_sigterm_handler",
    "is_flyte_task",
    "is_tracked",
    "link_host",
    "persist_offline_sweep",
    "pick",
    "project_url",
    "read_offline_run",
    "read_offline_runs",
    "register_sweep_agent",
    "report_sweep",
    "run_id_with_suffix",
    "sweep_agent_heartbeat",
    "trial_scope",
    "ui_host",
    "world_size",
]


def is_flyte_task(obj: object) -> bool:
    """``obj`` is a Flyte task template (what ``@env.task`` returns), not a plain function."""
    return bool(_is_flyte_task(obj))


def is_tracked(obj: object) -> bool:
    """``obj`` is a function wrapped by ``@wandb_init`` (directly, or as a Flyte task's ``func``)."""
    return hasattr(obj, _MARKER) or hasattr(getattr(obj, "func", None), _MARKER)


def distributed_link(
    link_args: Mapping[str, Any], *, worker_index: int | None, name: str | None = None
) -> Wandb:
    """A `Wandb` link to a distributed task's run, or its ranks' group for ``run_mode="new"``.

    Under ``rank_scope="worker"`` it points at worker ``worker_index``'s run (None: single worker).
    """
    args = dict(link_args)
    if name is not None:
        args["name"] = name
    return Wandb(**args, _is_distributed=True, _worker_index=worker_index)


def __getattr__(name: str) -> Any:
    # Lazy: the download helpers import flyte.io and the report code is only needed by report tasks.
    if name == "download_wandb_sweep_logs":
        from . import _download

        return _download.download_wandb_sweep_logs
    if name == "report_sweep":
        from ._report import report_sweep

        return report_sweep
    raise AttributeError(f"module 'flyteplugins.wandb_core.ext' has no attribute {name!r}")
