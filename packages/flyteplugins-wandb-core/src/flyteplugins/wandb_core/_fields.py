"""The plugin's settings, each described once: name, how it travels, where it goes, default, check.

``wandb_config``, ``@wandb_init`` and the resolver read their field lists from `WANDB_FIELDS`; the
sweeps package describes ``wandb_sweep_config`` with the same `Field`/`FieldTable`. Adding a named
``wandb.init`` argument is one row: it is then taken out of ``**kwargs`` by both entry points,
validated, carried to child tasks under its own ``wandb_<name>`` key and passed to ``wandb.init``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, NamedTuple

from ._validate import (
    JOB_TYPE_MAX,
    ON_ERROR_CHOICES,
    RANK_SCOPES,
    RUN_MODES,
    WANDB_MODES,
    WandbConfigError,
    check_choice,
    check_run_id,
    check_tags,
    check_type,
    check_wandb_name,
)

Check = Callable[[str, str, Any], None]
"""``check(where, name, value)``: raise `WandbConfigError` naming the argument; never called with None."""


class Field(NamedTuple):
    """One setting.

    Attributes:
        name: The argument name, and the custom_context key after the table's prefix.
        kind: How custom_context carries it: ``"str"`` as written, ``"json"`` JSON-encoded.
        role: Where the value goes. Core: ``"init"`` (passed to ``wandb.init`` under its name),
            ``"resolved"`` (the resolver derives the ``wandb.init`` value: run id, mode) or
            ``"plugin"`` (read by the plugin only). Sweeps: ``"sweep"`` (part of the W&B sweep
            definition) or ``"plugin"``.
        default: What an unset field reads as (the key itself stays absent, so an inner
            ``with wandb_config(...)`` never resets an outer value).
        check: Validation of a given value.
    """

    name: str
    kind: Literal["str", "json"]
    role: str
    default: Any = None
    check: Check | None = None

    @staticmethod
    def choice(allowed: Iterable[str]) -> Check:
        """A check that the value is one of ``allowed``."""
        allowed = tuple(allowed)
        return lambda where, name, value: check_choice(name, value, allowed)

    @staticmethod
    def typed(types: type | tuple[type, ...], desc: str, *then: Check) -> Check:
        """A check that the value is of ``types`` (``desc`` names them), then ``then`` in order."""

        def check(where: str, name: str, value: Any) -> None:
            check_type(where, name, value, types, desc)
            for more in then:
                more(where, name, value)

        return check


class FieldTable:
    """Fields in order, with the lists derived from them."""

    def __init__(self, *fields: Field) -> None:
        self.fields = fields
        self.names = tuple(f.name for f in fields)
        self.str_fields = tuple(f.name for f in fields if f.kind == "str")
        # `kwargs` holds everything the table does not name, as one JSON object.
        self.json_fields = (*(f.name for f in fields if f.kind == "json"), "kwargs")
        self.defaults: Mapping[str, Any] = {f.name: f.default for f in fields if f.default is not None}

    def with_role(self, role: str) -> tuple[str, ...]:
        """The names of the fields with this role, in table order."""
        return tuple(f.name for f in self.fields if f.role == role)

    def take(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Remove the table's fields from ``kwargs`` (e.g. ``notes=`` given through ``**kwargs``)."""
        return {name: kwargs.pop(name) for name in self.names if name in kwargs}

    def merge(
        self, decorator: Mapping[str, Any], context: Mapping[str, Any], nested: Iterable[str] = ("kwargs",)
    ) -> dict[str, Any]:
        """Decorator values over context values (None means not given); ``nested`` dicts merge key by key."""
        nested = tuple(nested)
        merged: dict[str, Any] = {k: v for k, v in context.items() if v is not None}
        for key, value in decorator.items():
            if value is None:
                continue
            if key in nested and isinstance(merged.get(key), Mapping) and isinstance(value, Mapping):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
        return merged

    def check(self, where: str, values: Mapping[str, Any]) -> None:
        """Run each given field's check, in table order."""
        for f in self.fields:
            value = values.get(f.name)
            if value is not None and f.check is not None:
                f.check(where, f.name, value)


# ---------------------------------------------------------------------------------------------
# Core's table
# ---------------------------------------------------------------------------------------------


def _url(where: str, name: str, value: Any) -> None:
    if not value.startswith(("http://", "https://")):
        raise WandbConfigError(f"{where}: {name} must start with http:// or https://, got {value!r}.")


def _job_type(where: str, name: str, value: Any) -> None:
    if len(value) > JOB_TYPE_MAX:
        raise WandbConfigError(
            f"{where}: {name} is {len(value)} characters long; W&B allows at most {JOB_TYPE_MAX}."
        )


def _seconds(where: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise WandbConfigError(f"{where}: {name} must be a positive number of seconds, got {value!r}.")


STRING = Field.typed(str, "a string")
BOOL = Field.typed(bool, "True or False")

WANDB_FIELDS = FieldTable(
    Field("project", "str", "init", check=Field.typed(str, "a string", check_wandb_name)),
    Field("entity", "str", "init", check=Field.typed(str, "a string", check_wandb_name)),
    Field("host", "str", "plugin", check=Field.typed(str, "a string", _url)),
    Field("id", "str", "resolved", check=Field.typed(str, "a string", check_run_id)),
    Field("name", "str", "init", check=STRING),
    Field("mode", "str", "resolved", check=Field.choice(WANDB_MODES)),
    Field("group", "str", "init", check=STRING),
    Field("notes", "str", "init", check=STRING),
    Field("job_type", "str", "init", check=Field.typed(str, "a string", _job_type)),
    Field("run_mode", "str", "plugin", default="auto", check=Field.choice(RUN_MODES)),
    Field("rank_scope", "str", "plugin", default="global", check=Field.choice(RANK_SCOPES)),
    Field("on_error", "str", "plugin", check=Field.choice(ON_ERROR_CHOICES)),
    Field("tags", "json", "init", check=check_tags),
    Field("config", "json", "init", check=Field.typed(Mapping, "a dict")),
    Field("download_logs", "json", "plugin", default=False, check=BOOL),
    Field("finish_timeout", "json", "plugin", check=_seconds),
)
"""``wandb_config`` / ``@wandb_init`` settings; every other argument is a ``wandb.init`` keyword
argument carried in ``kwargs``."""
