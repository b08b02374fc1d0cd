"""`wandb_config`: settings passed to child tasks as ``custom_context`` keys in 2.12's layout (both plugins read it)."""

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any, ClassVar, TypeVar

from ._validate import WANDB_FIELDS, FieldTable, OnError
from ._validate import RankScope as RankScope  # re-exported: the package's public names come from here
from ._validate import RunMode as RunMode
from ._validate import explicit_settings as explicit_settings  # for @wandb_init

parse_context = WANDB_FIELDS.decode  # `wandb_<field>` keys as Python values; sweep keys are the sweeps package's

# Keys a tracked task writes for its children (`_wandb_run_id` is 2.12's; the rest let another process join).
RUN_ID_KEY = "_wandb_run_id"
RUN_PROJECT_KEY = "_wandb_run_project"
RUN_ENTITY_KEY = "_wandb_run_entity"
RUN_HOST_KEY = "_wandb_run_host"
RUN_OFFLINE_KEY = "_wandb_run_offline"

_S = TypeVar("_S", bound="ContextSettings")


class ContextSettings(dict):  # type: ignore[type-arg]
    """Base of ``wandb_config`` / ``wandb_sweep_config`` objects: a ``dict[str, str]`` (a valid ``custom_context=``),
    a context manager, and the parsed values as attributes."""

    _table: ClassVar[FieldTable]
    _label = "settings"

    def __init__(self, data: Mapping[str, str] | None = None) -> None:
        super().__init__(data or {})
        self._scope: AbstractContextManager[Any] | None = None

    def values_dict(self) -> dict[str, Any]:
        """The settings as Python values (only the keys that are set)."""
        return self._table.decode(self)

    def to_dict(self) -> dict[str, str]:
        """A plain ``dict[str, str]`` copy of the keys that are set (e.g. for a Trigger's custom_context)."""
        return dict(self)

    @classmethod
    def from_dict(cls: type[_S], data: Mapping[str, str]) -> _S:
        """The settings found in a custom_context (other keys are ignored)."""
        return cls({k: v for k, v in data.items() if cls._table.owns(k)})

    @classmethod
    def from_task_context(cls: type[_S]) -> _S | None:
        """The settings in the running Flyte task's custom_context, or None when it holds none."""
        import flyte

        return cls.from_dict(getattr(flyte.ctx(), "custom_context", None) or {}) or None

    def __getattr__(self, name: str) -> Any:
        if name == "kwargs" or name in self._table.names:
            # An unset key stays absent (not set to its default): an inner `with` never resets an outer value.
            return self.values_dict().get(name, self._table.defaults.get(name))
        raise AttributeError(name)

    def __enter__(self: _S) -> _S:
        import flyte

        self._scope = flyte.custom_context(**self)  # a contextvar: sibling `with` blocks never see each other's
        self._scope.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        scope, self._scope = self._scope, None
        if scope is not None:
            scope.__exit__(*exc)

    def __repr__(self) -> str:
        return f"{self._label}({', '.join(f'{k}={v!r}' for k, v in self.values_dict().items())})"


class WandbConfig(ContextSettings):
    """What `wandb_config()` returns: a ``dict[str, str]`` for ``custom_context``, a context manager, and attributes."""

    _table = WANDB_FIELDS
    _label = "wandb_config"


def wandb_config(
    project: str | None = None,
    entity: str | None = None,
    host: str | None = None,
    id: str | None = None,
    name: str | None = None,
    tags: list[str] | None = None,
    config: dict[str, Any] | None = None,
    mode: str | None = None,
    group: str | None = None,
    run_mode: RunMode | None = None,
    rank_scope: RankScope | None = None,
    download_logs: bool | None = None,
    on_error: OnError | None = None,
    finish_timeout: float | None = None,
    **kwargs: Any,
) -> WandbConfig:
    """Create W&B settings that propagate to child tasks.

    Use it as ``flyte.with_runcontext(custom_context=wandb_config(...))`` for a whole run, or as a ``with
    wandb_config(...):`` block around child-task calls. ``@wandb_init`` arguments take precedence over these.

    Args:
        entity: W&B entity (team or user).
        host: Base URL of the W&B server (e.g. ``https://wandb.mycompany.com``); used both by wandb and
            for the Flyte UI links. Defaults to ``WANDB_BASE_URL`` or W&B cloud.
        id: Run id for the run the first tracked task creates (default ``{run_name}-{action_name}``).
        config: Hyperparameters; merged key by key with the decorator's ``config``.
        mode: ``"online"``, ``"offline"``, ``"disabled"`` or ``"shared"``; without it and ``WANDB_API_KEY``: offline.
        run_mode: ``"auto"`` (default), ``"new"`` or ``"shared"``.
        rank_scope: ``"global"`` (default) or ``"worker"`` (distributed training).
        download_logs: Download the run's files after the task finishes (online runs).
        on_error: When W&B cannot be reached: ``"continue"`` (default: offline, with a warning) or ``"raise"``.
        finish_timeout: Upper bound in seconds on how long finishing a run may block the task.
        **kwargs: Any other ``wandb.init`` argument (``notes``, ``job_type``, ``settings`` as a dict,
            ``save_code``, ...). Must be JSON-serializable.

    Raises:
        WandbConfigError: For invalid values, non-JSON values, or secret-like arguments.
    """
    named = {k: v for k, v in locals().items() if k != "kwargs"}  # as passed: the signature is their one list
    return WandbConfig(WANDB_FIELDS.encode(explicit_settings("wandb_config", named, kwargs, travels=True)))


def get_wandb_context() -> WandbConfig | None:
    """The W&B settings in the current Flyte task's custom_context, or ``None`` when there are none."""
    return WandbConfig.from_task_context()
