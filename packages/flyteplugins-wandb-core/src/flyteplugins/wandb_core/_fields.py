"""The plugin's settings, each described once (name, encoding, role, default, check), and their layout in
``custom_context``. Adding a named ``wandb.init`` argument is one row of `WANDB_FIELDS`.
"""

from __future__ import annotations

import json
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
    check_json,
    check_no_secret_arguments,
    check_no_secret_values,
    check_run_id,
    check_tags,
    check_type,
    check_url,
    check_wandb_name,
)

Check = Callable[[str, str, Any], None]
"""``check(where, name, value)``: raise `WandbConfigError` naming the argument; never called with None."""


class Field(NamedTuple):
    """One setting.

    Attributes:
        name: The argument name, and the custom_context key after the table's prefix.
        kind: How custom_context carries it: ``"str"`` as written, ``"json"`` JSON-encoded.
        role: Where the value goes: ``"init"`` (``wandb.init`` under its name), ``"resolved"`` (the
            resolver derives it), ``"plugin"`` (the plugin only), ``"sweep"`` (the sweep definition).
        default: What an unset field reads as (the key itself stays absent).
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

    @staticmethod
    def wandb_name() -> Check:
        """A check that the value is a string W&B accepts as a project or entity name."""
        return Field.typed(str, "a string", check_wandb_name)

    @staticmethod
    def wandb_mode() -> Check:
        """A check that the value is a mode ``wandb.init`` takes (``online``, ``offline``, ...)."""
        return Field.choice(WANDB_MODES)


class FieldTable:
    """Fields in order, the lists derived from them, and their ``custom_context`` layout.

    Args:
        fields: The settings, in the order signatures and messages list them.
        prefix: The custom_context key of field ``name`` is ``prefix + name``.
        skip_prefix: Keys with this (longer) prefix belong to another table (``wandb_sweep_``).
    """

    def __init__(self, *fields: Field, prefix: str, skip_prefix: str | None = None) -> None:
        self.fields = fields
        self.prefix = prefix
        self.skip_prefix = skip_prefix
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
        self, decorator: Mapping[str, Any], context: Mapping[str, Any], nested: tuple[str, ...] = ("kwargs",)
    ) -> dict[str, Any]:
        """Decorator values over context values (None means not given); ``nested`` dicts merge key by key."""
        merged: dict[str, Any] = {k: v for k, v in context.items() if v is not None}
        for key, value in decorator.items():
            if value is None:
                continue
            both = key in nested and isinstance(merged.get(key), Mapping) and isinstance(value, Mapping)
            merged[key] = {**merged[key], **value} if both else value
        return merged

    def check(self, where: str, values: Mapping[str, Any]) -> None:
        """Run each given field's check, in table order."""
        for f in self.fields:
            value = values.get(f.name)
            if value is not None and f.check is not None:
                f.check(where, f.name, value)

    def validate(self, where: str, values: Mapping[str, Any]) -> None:
        """Every check of settings that travel in custom_context, raising `WandbConfigError`.

        Secrets first (no later message may quote one), each field's check, then JSON-ability.
        """
        for name, value in values.items():
            check_no_secret_values(where, name, value)
        self.check(where, values)
        check_no_secret_arguments(where, (values.get("kwargs") or {}).keys())
        for name in self.json_fields:
            if values.get(name) is not None:
                check_json(where, name, values[name])

    def owns(self, key: str) -> bool:
        """Whether the custom_context key ``key`` belongs to this table."""
        return key.startswith(self.prefix) and not (self.skip_prefix and key.startswith(self.skip_prefix))

    def encode(self, values: Mapping[str, Any]) -> dict[str, str]:
        """Flatten settings to ``<prefix><name>`` string keys: JSON for lists/dicts/bools, None dropped."""
        out: dict[str, str] = {}
        for key, value in values.items():
            if value is None:
                continue
            if key in self.json_fields or isinstance(value, (list, dict, bool, tuple)):
                value = json.dumps(list(value) if isinstance(value, tuple) else value)
            out[self.prefix + key] = str(value)
        return out

    def decode(self, custom_context: Mapping[str, str] | None) -> dict[str, Any]:
        """Read this table's keys back into Python values (the inverse of `encode`).

        An empty string field reads as unset: how a task hides a consumed value (custom_context cannot
        delete). Other names are JSON, or their raw string where they are not.
        """
        out: dict[str, Any] = {}
        for key, raw in (custom_context or {}).items():
            if not self.owns(key):
                continue
            name = key[len(self.prefix) :]
            if name in self.str_fields:
                if raw != "":
                    out[name] = raw
                continue
            try:
                out[name] = json.loads(raw)
            except (TypeError, ValueError):
                out[name] = raw
        return out


def _job_type(where: str, name: str, value: Any) -> None:
    if len(value) > JOB_TYPE_MAX:
        raise WandbConfigError(f"{where}: {name} is {len(value)} characters long; W&B allows at most {JOB_TYPE_MAX}.")


def _seconds(where: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise WandbConfigError(f"{where}: {name} must be a positive number of seconds, got {value!r}.")


STRING = Field.typed(str, "a string")
BOOL = Field.typed(bool, "True or False")

WANDB_FIELDS = FieldTable(
    Field("project", "str", "init", check=Field.wandb_name()),
    Field("entity", "str", "init", check=Field.wandb_name()),
    Field("host", "str", "plugin", check=Field.typed(str, "a string", check_url)),
    Field("id", "str", "resolved", check=Field.typed(str, "a string", check_run_id)),
    Field("name", "str", "init", check=STRING),
    Field("mode", "str", "resolved", check=Field.wandb_mode()),
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
    prefix="wandb_",
    skip_prefix="wandb_sweep_",
)
"""``wandb_config`` / ``@wandb_init`` settings; other ``wandb.init`` arguments travel in ``kwargs``."""
