"""Early validation of user input: allowed values, W&B's naming rules (mirrored from ``wandb.Settings``,
checked by the tests), JSON-ability and secrets. Runs at decoration time, so it never imports wandb.
"""

from __future__ import annotations

import inspect
import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal, get_args

RunMode = Literal["auto", "new", "shared"]
"""How a tracked task picks its W&B run: ``"auto"``, ``"new"`` or ``"shared"``."""

RankScope = Literal["global", "worker"]
"""Which ranks log in distributed training: ``"global"`` or ``"worker"``."""

OnError = Literal["continue", "raise"]
"""What a task does when W&B cannot be reached: fall back to offline (``"continue"``) or raise."""

RUN_MODES: tuple[str, ...] = get_args(RunMode)
RANK_SCOPES: tuple[str, ...] = get_args(RankScope)
ON_ERROR_CHOICES: tuple[str, ...] = get_args(OnError)
WANDB_MODES = ("online", "offline", "disabled", "shared")
RESUME_CHOICES = ("allow", "never", "must", "auto")

# wandb.Settings.validate_project: at most 128 characters, none of these. Entities appear in the same
# URL paths (`{host}/{entity}/{project}/runs/{id}`), so the same rule applies to them.
NAME_MAX = 128
NAME_RESERVED = "/\\#?%:"
# The wandb.init docstring forbids `/ \ # ? % :`; wandb.Settings.validate_run_id refuses `: ; , # ? / '`.
RUN_ID_RESERVED = "/\\#?%:;,'"
# The server caps names built from the id (`run-{id}-history`) at 128 characters; derived ids use half.
RUN_ID_MAX = 128
TAG_MAX = 64  # wandb.Settings.validate_run_tags: 1 to 64 characters
JOB_TYPE_MAX = 64  # the server refuses longer job types when the run is synced

SECRET_HINT = (
    "Secrets must never travel through wandb_config/@wandb_init: Flyte copies custom_context to every "
    "child task and shows it in the UI. Put the key in a Flyte secret and expose it as WANDB_API_KEY, e.g. "
    'flyte.TaskEnvironment(..., secrets=flyte.Secret(key="wandb_api_key", as_env_var="WANDB_API_KEY")).'
)

# Names that can only mean a credential, for top-level arguments and settings keys only: inside
# `config`, `pad_token` or `max_tokens` are ordinary settings, judged by what they hold.
_CREDENTIAL_NAME = re.compile(
    r"^(wandb_)?(api_?key|key|token|access_?token|auth_?token|bearer_?token|refresh_?token|access_?key|"
    r"secret|secret_?key|client_?secret|password|passwd|credentials?|private_?key)$"
    r"|_(api_?key|access_?key|secret|secret_?key|secret_access_key|password|access_?token|auth_?token|"
    r"private_?key)$"
)
# A key shorter than this could occur by chance inside ordinary text, so it is only matched whole.
_MIN_SUBSTRING_SECRET = 8


class WandbConfigError(ValueError):
    """Raised at decoration / configuration time when an argument is invalid."""


class WandbTrackingError(RuntimeError):
    """W&B could not be reached or refused the run, and ``on_error="raise"`` was requested."""

    # Defined here so that importing the package does not load the run-time modules for this class.
    __module__ = "flyteplugins.wandb_core._lifecycle"


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).replace("-", "_").replace(".", "_").lower()


def is_secret_name(name: str) -> bool:
    """True when ``name``, as a top-level argument or settings key, can only hold a credential."""
    return bool(_CREDENTIAL_NAME.search(_snake(name)))


def check_no_secret_arguments(where: str, names: Iterable[str]) -> None:
    for name in names:
        if isinstance(name, str) and is_secret_name(name):
            raise WandbConfigError(f"{where} got a secret-like argument {name!r}. {SECRET_HINT}")


def live_secrets(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The W&B API key of this process (``WANDB_API_KEY``), if one is set."""
    key = ((os.environ if env is None else env).get("WANDB_API_KEY") or "").strip()
    return (key,) if key else ()


def _holds(text: str, secrets: tuple[str, ...]) -> bool:
    return any((s in text) if len(s) >= _MIN_SUBSTRING_SECRET else text.strip() == s for s in secrets)


def find_secret(value: Any, secrets: tuple[str, ...], path: str = "") -> str | None:
    """The path (``config['a'][0]``) of the first place in ``value`` holding a secret (a mapping key
    holding it is shown redacted), else None."""
    if not secrets:
        return None
    if _is_wandb_settings(value):
        value = _fields_set(value)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        return path if _holds(value, secrets) else None
    if isinstance(value, (Mapping, list, tuple, set, frozenset)):
        for k, v in value.items() if isinstance(value, Mapping) else enumerate(value):
            if isinstance(k, str) and _holds(k, secrets):
                return f"{path}[<redacted>]"
            found = find_secret(v, secrets, f"{path}[{k!r}]")
            if found is not None:
                return found
    return None


def check_no_secret_values(where: str, argument: str, value: Any, env: Mapping[str, str] | None = None) -> None:
    """Refuse the live W&B API key anywhere in ``value``; the error names where, never the key."""
    found = find_secret(value, live_secrets(env), argument)
    if found is not None:
        raise WandbConfigError(f"{where}: {found} contains the W&B API key (the value of WANDB_API_KEY). {SECRET_HINT}")


def check_choice(argument: str, value: Any, allowed: Iterable[str]) -> None:
    allowed = tuple(allowed)
    if value is not None and value not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise WandbConfigError(f"{argument}={value!r} is not valid; allowed values: {choices}.")


def check_json(where: str, argument: str, value: Any) -> None:
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise WandbConfigError(
            f"{where}: {argument} must be JSON-serializable (str, int, float, bool, None, list, dict), "
            f"because it travels through Flyte's custom_context: {exc}"
        ) from exc


def check_type(where: str, argument: str, value: Any, types: type | tuple[type, ...], desc: str) -> None:
    if value is not None and not isinstance(value, types):
        raise WandbConfigError(f"{where}: {argument} must be {desc}, got {type(value).__name__} {value!r}.")


def check_url(where: str, argument: str, value: Any) -> None:
    if value is not None and not (isinstance(value, str) and value.startswith(("http://", "https://"))):
        raise WandbConfigError(f"{where}: {argument} must start with http:// or https://, got {value!r}.")


def _did_you_mean(name: str, allowed: Iterable[str]) -> str:
    import difflib  # only a refused name needs it: not loaded when the plugin is imported

    close = difflib.get_close_matches(name, list(allowed), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def check_wandb_name(where: str, argument: str, value: Any) -> None:
    """A project or entity name: 1-128 characters, none of ``/ \\ # ? % :``."""
    if not isinstance(value, str):
        return  # the type check names it
    if not value.strip():
        raise WandbConfigError(f"{where}: {argument} must not be empty or only whitespace, got {value!r}.")
    if len(value) > NAME_MAX:
        raise WandbConfigError(f"{where}: {argument} is {len(value)} characters long; W&B allows at most {NAME_MAX}.")
    bad = sorted({c for c in value if c in NAME_RESERVED})
    if bad:
        raise WandbConfigError(
            f"{where}: {argument}={value!r} contains {' '.join(bad)}; W&B names cannot contain any of "
            f"{' '.join(NAME_RESERVED)}."
        )


def run_id_problem(value: str) -> str | None:
    """Why W&B would refuse ``value`` as a run id, or None when it is valid."""
    if not value:
        return "it is empty"
    if not value.strip():
        return "it is only whitespace"
    if value != value.strip():
        return "it starts or ends with whitespace"
    bad = sorted({c for c in value if c in RUN_ID_RESERVED})
    if bad:
        return f"it contains {' '.join(bad)} (run ids cannot contain any of {' '.join(RUN_ID_RESERVED)})"
    if len(value) > RUN_ID_MAX:
        return f"it is {len(value)} characters long (at most {RUN_ID_MAX})"
    return None


def check_run_id(where: str, argument: str, value: Any) -> None:
    problem = run_id_problem(value) if isinstance(value, str) else None
    if problem:
        raise WandbConfigError(
            f"{where}: {argument}={value!r} is not a valid W&B run id: {problem}. Use letters, digits, "
            "'-', '_' and '.'; or leave it unset to get an id derived from the Flyte run and action."
        )


def check_tags(where: str, argument: str, tags: Any) -> None:
    """A list or tuple of strings of 1-64 characters (a bare string would be split into letters)."""
    if tags is None:
        return
    if isinstance(tags, str):
        raise WandbConfigError(
            f"{where}: {argument} must be a list or tuple of strings, got the string {tags!r}; "
            f"write {argument}=[{tags!r}]."
        )
    if not isinstance(tags, (list, tuple)) or not all(isinstance(t, str) for t in tags):
        raise WandbConfigError(f"{where}: {argument} must be a list or tuple of strings, got {tags!r}.")
    for i, tag in enumerate(tags):
        if not tag or len(tag) > TAG_MAX:
            raise WandbConfigError(
                f"{where}: {argument}[{i}]={tag!r} is {len(tag)} characters; W&B tags must be 1 to "
                f"{TAG_MAX} characters."
            )


def check_resume(where: str, argument: str, value: Any) -> None:
    if value is None or isinstance(value, bool) or value in RESUME_CHOICES:
        return
    choices = ", ".join(repr(c) for c in (*RESUME_CHOICES, True, False))
    raise WandbConfigError(f"{where}: {argument}={value!r} is not valid; allowed values: {choices}.")


def normalize_settings(where: str, value: Any) -> dict[str, Any] | None:
    """``settings`` as a plain dict: a mapping, or a ``wandb.Settings`` (duck-typed, wandb not imported)."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return dict(value)
    check_no_secret_values(where, "settings", value)  # before the message below quotes the value
    if _is_wandb_settings(value):
        return _fields_set(value)  # only what the user set: merging must not reset the rest
    raise WandbConfigError(
        f"{where}: settings must be a dict of wandb.Settings fields or a wandb.Settings object, "
        f"got {type(value).__name__} {value!r}."
    )


def _is_wandb_settings(value: Any) -> bool:
    cls = type(value)
    return cls.__name__ == "Settings" and cls.__module__.split(".")[0] == "wandb" and hasattr(value, "model_fields_set")


def _fields_set(settings: Any) -> dict[str, Any]:
    # Not model_dump(exclude_unset=True): that also returns computed fields, which Settings refuses as input.
    return {name: getattr(settings, name) for name in sorted(settings.model_fields_set)}


def check_decorator_argument(where: str, value: Any) -> None:
    """``@wandb_init("new")``: the decorator's only positional argument is the decorated function."""
    if not isinstance(value, str):
        return
    if find_secret(value, live_secrets()) is not None:
        raise WandbConfigError(f"{where} got the W&B API key as a positional argument. {SECRET_HINT}")
    hint = f" Write {where}(run_mode={value!r})." if value in RUN_MODES else ""
    raise WandbConfigError(
        f"{where} takes keyword arguments only, got the positional argument {value!r}.{hint} "
        f"run_mode must be one of {', '.join(repr(m) for m in RUN_MODES)}."
    )


def check_decorator_target(where: str, obj: Any) -> None:
    """Refuse what a run cannot wrap: classes and (async) generator functions."""
    name = getattr(obj, "__qualname__", repr(obj))
    if inspect.isclass(obj):
        raise WandbConfigError(
            f"{where} decorates a Flyte task or a function, got the class {name!r}. Decorate the method or "
            "task that does the work instead."
        )
    if inspect.isasyncgenfunction(obj) or inspect.isgeneratorfunction(obj):
        kind = "an async generator" if inspect.isasyncgenfunction(obj) else "a generator"
        raise WandbConfigError(
            f"{where} cannot track {kind} function ({name!r}): calling it returns at once, so the run "
            "would finish before the body runs. Collect the values in a regular function (return a list), "
            "or open the run in the code that consumes the generator."
        )
