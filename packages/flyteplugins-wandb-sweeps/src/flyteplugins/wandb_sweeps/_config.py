"""`wandb_sweep_config` in ``custom_context``, a sweep task's `SweepState`, and its `WandbSweep` link."""

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from flyteplugins.wandb_core import WandbConfigError
from flyteplugins.wandb_core.ext import ContextSettings, Field, FieldTable, WandbLink

from ._space import GOALS, METHODS, SweepMethod, validate_sweep_definition

# Written by @wandb_sweep for the task body and its children.
SWEEP_ID_KEY = "_wandb_sweep_id"
SWEEP_PROJECT_KEY = "_wandb_sweep_project"
SWEEP_ENTITY_KEY = "_wandb_sweep_entity"
SWEEP_MODE_KEY = "_wandb_sweep_mode"
MAX_AGENTS = 20
SweepMode = Literal["online", "offline", "disabled"]


def _metric(where: str, name: str, metric: Any) -> None:
    if not isinstance(metric, Mapping) or not isinstance(metric.get("name"), str) or not metric["name"]:
        raise WandbConfigError(
            f"{where}: metric must be a dict with a 'name', e.g. {{'name': 'loss', 'goal': 'minimize'}}; "
            f"got {metric!r}."
        )
    Field.choice(GOALS)(where, "metric['goal']", metric.get("goal"))


def _prior_runs(where: str, name: str, prior: Any) -> None:
    if isinstance(prior, str) or not all(isinstance(r, str) for r in prior):
        raise WandbConfigError(f"{where}: prior_runs must be a list of run ids, got {prior!r}.")


# Role "sweep": part of the W&B sweep definition; "plugin": where and how the sweep runs in Flyte.
SWEEP_FIELDS = FieldTable(
    Field("name", "str", "sweep", check=Field.typed(str, "a string")),
    Field("method", "str", "sweep", check=Field.choice(METHODS)),
    Field("project", "str", "plugin", check=Field.wandb_name()),
    Field("entity", "str", "plugin", check=Field.wandb_name()),
    Field("metric", "json", "sweep", check=_metric),
    Field("parameters", "json", "sweep"),  # checked with the whole definition (validate_sweep_definition)
    Field("prior_runs", "json", "plugin", check=_prior_runs),
    Field("download_logs", "json", "plugin", default=False, check=Field.typed(bool, "True or False")),
    prefix="wandb_sweep_",
)
FIELDS = (*SWEEP_FIELDS.names, "kwargs")
PLACEMENT_FIELDS = SWEEP_FIELDS.with_role("plugin")


class WandbSweepConfig(ContextSettings):
    """A sweep definition for ``custom_context`` (build it with `wandb_sweep_config()`): a ``dict[str, str]``,
    a context manager (``with wandb_sweep_config(...): await task()``) and a parsed view (``cfg.method``)."""

    _table = SWEEP_FIELDS
    _label = "wandb_sweep_config"

    def values_dict(self) -> dict[str, Any]:
        return parse_context(self)

    def __getattr__(self, name: str) -> Any:
        if name == "early_terminate":
            return (self.values_dict().get("kwargs") or {}).get("early_terminate")
        return super().__getattr__(name)

    def to_sweep_config(self) -> dict[str, Any]:
        """The W&B sweep configuration (what ``wandb.sweep`` and the search engine read)."""
        return sweep_config_from_values(self.values_dict())


def parse_context(custom_context: Mapping[str, str] | None) -> dict[str, Any]:
    """``wandb_sweep_<field>`` keys as Python values; unknown ones (by hand, or a newer plugin) go to ``kwargs``."""
    decoded = SWEEP_FIELDS.decode(custom_context)
    out = {name: value for name, value in decoded.items() if name in FIELDS}
    extra = {name: value for name, value in decoded.items() if name not in FIELDS}
    if extra:
        out["kwargs"] = {**extra, **(out.get("kwargs") or {})}
    return out


def sweep_config_from_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """The sweep configuration from parsed settings: placement fields dropped, kwargs merged."""
    config = {k: v for k, v in values.items() if k not in PLACEMENT_FIELDS and k != "kwargs" and v is not None}
    return config | {k: v for k, v in (values.get("kwargs") or {}).items() if v is not None and k not in config}


def merge_values(decorator: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    """Decorator arguments over context values; ``kwargs`` merged key by key."""
    return SWEEP_FIELDS.merge(decorator, context, nested=("kwargs",))


def validate_values(where: str, values: Mapping[str, Any]) -> None:
    SWEEP_FIELDS.validate(where, values)
    early = (values.get("kwargs") or {}).get("early_terminate")
    if isinstance(early, Mapping):  # any other value: refused with the whole definition, below
        Field.choice(("hyperband",))(where, "early_terminate['type']", early.get("type"))
    validate_sweep_definition(where, sweep_config_from_values(values), complete=False)


def wandb_sweep_config(
    method: SweepMethod | None = None,
    metric: dict[str, Any] | None = None,
    parameters: dict[str, Any] | None = None,
    project: str | None = None,
    entity: str | None = None,
    prior_runs: list[str] | None = None,
    download_logs: bool | None = None,
    name: str | None = None,
    early_terminate: dict[str, Any] | None = None,
    **kwargs: Any,
) -> WandbSweepConfig:
    """Describe a W&B sweep for a ``@wandb_sweep`` task: pass it as ``flyte.with_runcontext(custom_context=...)``
    or use it as a ``with wandb_sweep_config(...):`` block around the call of the sweep task.

    Args:
        method: ``"grid"``, ``"random"`` or ``"bayes"``.
        metric: The metric to optimise (the run's summary value), e.g. ``{"name": "loss", "goal": "minimize"}``;
            required for ``bayes`` and ``early_terminate``.
        parameters: Parameter specifications, as in W&B sweep configs (``values``, ``min``/``max``, ...).
        project: W&B project of the sweep and its trials (else ``wandb_config(project=)``).
        entity: W&B entity (else ``wandb_config(entity=)``).
        prior_runs: Ids of existing runs to attach to the sweep (online) or to seed the search with (offline).
        download_logs: After the sweep, collect every trial's files as a ``flyte.io.Dir`` trace output.
        name: Sweep name; defaults to ``{run_name}-{action_name}`` of the sweep task.
        early_terminate: Early stopping, e.g. ``{"type": "hyperband", "min_iter": 3}``.
        **kwargs: Other sweep-config keys (``description``, ``run_cap``, ...); JSON-serializable.

    Raises:
        WandbConfigError: For invalid or non-JSON values.
    """
    if early_terminate is not None:
        kwargs["early_terminate"] = early_terminate
    values: dict[str, Any] = {
        "name": name,
        "method": method,
        "metric": metric,
        "parameters": parameters,
        "project": project,
        "entity": entity,
        "prior_runs": list(prior_runs) if isinstance(prior_runs, tuple) else prior_runs,
        "download_logs": download_logs,
        "kwargs": kwargs or None,
    }
    validate_values("wandb_sweep_config", values)
    return WandbSweepConfig(SWEEP_FIELDS.encode(values))


def get_wandb_sweep_context() -> WandbSweepConfig | None:
    """The sweep definition in the current Flyte task's ``custom_context``, or ``None``."""
    return WandbSweepConfig.from_task_context()


@dataclass
class SweepState:
    """The sweep a task body works with: shared by the decorator, the launcher and the log collection."""

    sweep_id: str
    mode: SweepMode
    config: dict[str, Any]
    name: str | None = None
    project: str | None = None
    entity: str | None = None
    host: str | None = None
    download_logs: bool = False
    prior_runs: list[str] = field(default_factory=list)
    resumed: bool = False  # online: the sweep already existed on the server under this name
    # Children, even in this process, rebuild their own view from custom_context, as remote ones do.
    owner_action: str | None = None
    run_dirs: list[str] = field(default_factory=list)
    logs_collected: bool = False
    report: bool = False  # a report=True task: run_sweep_agents writes its trials into the task's W&B tab
    report_trials: list[Any] = field(default_factory=list)
    secrets: Any = None  # the sweep task's, for the built-in agent tasks
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def context_keys(self) -> dict[str, str]:
        """The effective definition (context + decorator) for children that reuse the sweep."""
        config = dict(self.config)
        values: dict[str, Any] = {k: config.pop(k) for k in ("name", "method", "metric", "parameters") if k in config}
        values.update(project=self.project, entity=self.entity, kwargs=config or None)
        placed = {k: v for k, v in ((SWEEP_PROJECT_KEY, self.project), (SWEEP_ENTITY_KEY, self.entity)) if v}
        return {**SWEEP_FIELDS.encode(values), SWEEP_ID_KEY: self.sweep_id, SWEEP_MODE_KEY: self.mode, **placed}


@dataclass
class WandbSweep(WandbLink):
    """Link to a W&B sweep, ``{host}/{entity}/{project}/sweeps/{id}``, for ``@wandb_sweep`` and agent tasks (the
    sweep task's own link: the project's sweeps page; an offline sweep's: the W&B group of its trials).

    Args:
        host: W&B UI host; else ``wandb_config(host=)``, ``WANDB_BASE_URL``, then W&B cloud.
        project: W&B project; else ``wandb_sweep_config``, then ``wandb_config``.
        entity: W&B entity; same fallbacks as ``project``.
        id: A known sweep id.
        name: The link's label in the Flyte UI.
    """

    id: str | None = None
    name: str = "Weights & Biases Sweep"
    icon_uri: str = WandbLink.ICON

    def url(self, context: dict[str, str], *, run_name: str, action_name: str) -> str:
        host, wb_project, wb_entity = self.place(
            context,
            (SWEEP_PROJECT_KEY, "wandb_sweep_project", "wandb_project"),
            (SWEEP_ENTITY_KEY, "wandb_sweep_entity", "wandb_entity"),
        )
        sweep_id = self.id or context.get(SWEEP_ID_KEY) or None
        if not sweep_id:
            return self.project_url(host, wb_entity, wb_project, "sweeps")
        kind = "groups" if context.get(SWEEP_MODE_KEY) in ("offline", "disabled") else "sweeps"
        return self.project_url(host, wb_entity, wb_project, kind, sweep_id)
