"""Early validation of user input: allowed values, JSON-ability and secret refusal."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

RUN_MODES = ("auto", "new", "shared")
RANK_SCOPES = ("global", "worker")
WANDB_MODES = ("online", "offline", "disabled", "shared")
ON_ERROR_CHOICES = ("continue", "raise")

SECRET_HINT = (
    "Secrets must never travel through wandb_config/@wandb_init: Flyte copies custom_context to every "
    "child task and shows it in the UI. Put the key in a Flyte secret and expose it as WANDB_API_KEY, e.g. "
    'flyte.TaskEnvironment(..., secrets=flyte.Secret(key="wandb_api_key", as_env_var="WANDB_API_KEY")).'
)

# Matches names such as api_key, apiKey, WANDB_API_KEY, access_token, client_secret, password.
# `max_tokens`, `tokenizer` and `num_keys` stay allowed: they are ordinary ML hyperparameters.
_SECRET_NAME = re.compile(
    r"(^|[_\-.])(api[_\-]?key|apikey|access[_\-]?key|secret([_\-]?key)?|password|passwd|token|"
    r"auth[_\-]?token|credentials?|private[_\-]?key|key)$",
    re.IGNORECASE,
)


class WandbConfigError(ValueError):
    """Raised at decoration / configuration time when an argument is invalid."""


def is_secret_name(name: str) -> bool:
    """True when ``name`` looks like it holds a credential."""
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    return bool(_SECRET_NAME.search(snake))


def check_choice(argument: str, value: Any, allowed: Iterable[str]) -> None:
    allowed = tuple(allowed)
    if value is not None and value not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise WandbConfigError(f"{argument}={value!r} is not valid; allowed values: {choices}.")


def check_no_secret_arguments(where: str, names: Iterable[str]) -> None:
    for name in names:
        if is_secret_name(name):
            raise WandbConfigError(f"{where} got a secret-like argument {name!r}. {SECRET_HINT}")


def _known_secret_values() -> set[str]:
    return {v for k, v in os.environ.items() if k in ("WANDB_API_KEY",) and v}


def check_no_secret_values(where: str, argument: str, value: Any) -> None:
    """Refuse secret-like keys anywhere in a nested mapping and the live W&B key as a value."""
    secrets = _known_secret_values()

    def walk(obj: Any, path: str) -> None:
        if isinstance(obj, Mapping):
            for k, v in obj.items():
                sub = f"{path}[{k!r}]"
                if isinstance(k, str) and is_secret_name(k):
                    raise WandbConfigError(f"{where}: {sub} looks like a secret. {SECRET_HINT}")
                walk(v, sub)
        elif isinstance(obj, (list, tuple)):
            for i, v in enumerate(obj):
                walk(v, f"{path}[{i}]")
        elif isinstance(obj, str) and obj in secrets:
            raise WandbConfigError(f"{where}: {path} holds the value of WANDB_API_KEY. {SECRET_HINT}")

    walk(value, argument)


def check_json(where: str, argument: str, value: Any) -> None:
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise WandbConfigError(
            f"{where}: {argument} must be JSON-serialisable (str, int, float, bool, None, list, dict), "
            f"because it travels through Flyte's custom_context: {exc}"
        ) from exc


def check_type(where: str, argument: str, value: Any, types: type | tuple[type, ...], desc: str) -> None:
    if value is not None and not isinstance(value, types):
        raise WandbConfigError(f"{where}: {argument} must be {desc}, got {type(value).__name__} {value!r}.")
