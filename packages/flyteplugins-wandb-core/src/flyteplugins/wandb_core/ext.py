"""The extension contract: everything a package built on ``flyteplugins-wandb-core`` may use.

The sibling packages (``flyteplugins-wandb-sweeps``, ``flyteplugins-wandb-distributed``) and third-party
extensions import from ``flyteplugins.wandb_core`` (the user API) and from this module only; a lint rule
(ruff TID251) keeps the siblings off core's private modules. Names here are kept stable across
minor releases; everything else in core may change without notice.

What is here:

- Run plans: `RunPlan` (what one tracked call does), `TaskInfo` (where it runs),
  `Topology` (its place in a torchrun job), `ActiveRun` (an opened run).
- Rank handling: the `RankHandler` protocol that a distributed extension implements; core's
  loader returns the installed one (see `check_rank_handler()` for a conformance check).
- Sweep trials: `trial_scope()` and its `TrialHandle` (in-process), and
  `TRIAL_CONTEXT_KEY` (the same overrides as JSON in a trial action's ``custom_context``);
  `RUN_ID_KEY` is the context key of the run a task's children log into.
- Hosts and credentials: `ui_host()`, `api_base_url()`, `has_netrc_credentials()`.
- Offline runs: `read_offline_run()` / `read_offline_runs()` and `OfflineRun`.
- Tracked objects: `WRAPPER_MARKER`, `is_tracked()`, `is_flyte_task()`.
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

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ._compat import is_finished as run_is_finished
from ._compat import register_sweep_agent, sweep_agent_heartbeat
from ._config import RUN_ID_KEY, ContextSettings, decode_settings, encode_settings, get_wandb_context
from ._decorator import MARKER as WRAPPER_MARKER
from ._decorator import _is_flyte_task
from ._extras import OPTIONAL_NAMES
from ._fields import Field, FieldTable
from ._link import WANDB_ICON, Default, Wandb, fill_defaults, given, link_host, pick, project_url
from ._offline import OfflineRun, read_offline_run, read_offline_runs
from ._preempt import PREEMPTED_EXIT_CODE
from ._preempt import arm as install_sigterm_handler
from ._resolve import (
    DistributedResolver,
    RunPlan,
    TaskInfo,
    Topology,
    api_base_url,
    derive_run_id,
    run_id_with_suffix,
    ui_host,
)
from ._runtime import DEFAULT_HOST, FAILED_EXIT_CODE, has_netrc_credentials, netrc_has_entry, world_size
from ._state import TRIAL_CONTEXT_KEY, ActiveRun, TrialHandle, trial_scope
from ._validate import (
    WANDB_MODES,
    WandbConfigError,
    check_choice,
    check_json,
    check_no_secret_arguments,
    check_no_secret_values,
    check_type,
    check_wandb_name,
)

if TYPE_CHECKING:  # pragma: no cover - resolved lazily below (these import flyte.io / report code)
    from flyte import Link

    from ._download import download_wandb_sweep_logs
    from ._report import report_sweep

__all__ = [
    "DEFAULT_HOST",
    "FAILED_EXIT_CODE",
    "OPTIONAL_NAMES",
    "PREEMPTED_EXIT_CODE",
    "RUN_ID_KEY",
    "TRIAL_CONTEXT_KEY",
    "WANDB_ICON",
    "WANDB_MODES",
    "WRAPPER_MARKER",
    "ActiveRun",
    "ContextSettings",
    "Default",
    "DistributedResolver",
    "Field",
    "FieldTable",
    "OfflineRun",
    "RankHandler",
    "RunPlan",
    "TaskInfo",
    "Topology",
    "TrialHandle",
    "Wandb",
    "WandbConfigError",
    "api_base_url",
    "check_choice",
    "check_json",
    "check_no_secret_arguments",
    "check_no_secret_values",
    "check_rank_handler",
    "check_type",
    "check_wandb_name",
    "decode_settings",
    "derive_run_id",
    "distributed_link",
    "download_wandb_sweep_logs",
    "encode_settings",
    "fill_defaults",
    "get_wandb_context",
    "given",
    "has_netrc_credentials",
    "install_sigterm_handler",
    "installed_rank_handler",
    "is_flyte_task",
    "is_tracked",
    "link_host",
    "netrc_has_entry",
    "pick",
    "project_url",
    "read_offline_run",
    "read_offline_runs",
    "register_sweep_agent",
    "report_sweep",
    "run_id_with_suffix",
    "run_is_finished",
    "sweep_agent_heartbeat",
    "trial_scope",
    "ui_host",
    "world_size",
]


@runtime_checkable
class RankHandler(Protocol):
    """Rank handling under torchrun / Flyte Elastic, as core calls it.

    ``flyteplugins-wandb-distributed`` provides the implementation core loads; another one must behave
    the same way from core's side. Core calls, in order:

    - at decoration of an Elastic task: `check_task()`, then `links_for_task()`;
    - at each call of an Elastic task with ``download_logs`` on: `is_distributed_task()`;
    - at each call on a process with ``WORLD_SIZE`` > 1: `detect_topology()`, then (when it gave a
      topology) `resolve_distributed()` through `resolve_run()`,
      then `on_run_open()` once the rank's run is open.
    """

    def detect_topology(self, env: Mapping[str, str]) -> Topology | None:
        """This process's place in the job described by ``env``, or None when it is not distributed.

        Raises:
            WandbConfigError: The launcher's variables are malformed or contradict each other.
        """
        ...

    def resolve_distributed(
        self, settings: Mapping[str, Any], task: TaskInfo, topology: Topology, plan: RunPlan
    ) -> RunPlan:
        """Adjust core's single-process ``plan`` (``run_id`` preset to the base id) for this rank."""
        ...

    def on_run_open(self, active: ActiveRun) -> None:
        """A run opened on this rank (``active.run`` is not None)."""
        ...

    def links_for_task(
        self, task: Any, link_args: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> Sequence[Link]:
        """The Flyte UI links of an Elastic task (``link_args`` are `Wandb`'s fields)."""
        ...

    def check_task(self, task: Any, settings: Mapping[str, Any]) -> None:
        """Refuse (raise `WandbConfigError`) or warn about settings that cannot work on ``task``."""
        ...

    def is_distributed_task(self, task: Any) -> bool:
        """``task``'s Elastic config asks for more than one process (nodes × processes per node > 1).

        Decides what does not depend on where the task runs: its links, and that ``download_logs`` is
        skipped (with a warning) even when Elastic's local mode runs it as one process.
        """
        ...


def installed_rank_handler() -> RankHandler | None:
    """The rank handler core uses (from ``flyteplugins-wandb-distributed``), or None when not installed."""
    from ._extras import try_distributed

    return try_distributed()


def is_flyte_task(obj: object) -> bool:
    """``obj`` is a Flyte task template (what ``@env.task`` returns), not a plain function."""
    return bool(_is_flyte_task(obj))


def is_tracked(obj: object) -> bool:
    """``obj`` is a function wrapped by ``@wandb_init`` (directly, or as a Flyte task's ``func``)."""
    return hasattr(obj, WRAPPER_MARKER) or hasattr(getattr(obj, "func", None), WRAPPER_MARKER)


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


def check_rank_handler(handler: object) -> None:
    """Check a `RankHandler` implementation against what core relies on; raise if it falls short.

    A conformance kit for extension authors: run it as one test (``check_rank_handler(my_handler)``).
    It exercises the handler with pure inputs only (no processes, no wandb).

    Raises:
        AssertionError: Naming the first method that does not behave as core expects.
    """
    from ._conformance import check_rank_handler as _check

    _check(handler)


def __getattr__(name: str) -> Any:
    # Lazy: the download helpers import flyte.io and the report code is only needed by report tasks.
    if name == "download_wandb_sweep_logs":
        from . import _download

        return _download.download_wandb_sweep_logs
    if name == "report_sweep":
        from ._report import report_sweep

        return report_sweep
    raise AttributeError(f"module 'flyteplugins.wandb_core.ext' has no attribute {name!r}")
