"""The settings table and early input checks, W&B's rules mirrored (and tested) so decoration never imports wandb."""

import contextlib
import inspect
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, NamedTuple, get_args

from . import _wandb_names

RunMode = Literal["auto", "new", "shared"]
"""How a tracked task picks its W&B run: ``"auto"``, ``"new"`` or ``"shared"``."""

RankScope = Literal["global", "worker"]
"""Which ranks log in distributed training: ``"global"`` or ``"worker"``."""

OnError = Literal["continue", "raise"]
"""What a task does when W&B cannot be reached: fall back to offline (``"continue"``) or raise."""

RUN_MODES: tuple[str, ...] = get_args(RunMode)
RANK_SCOPES: tuple[str, ...] = get_args(RankScope)
WANDB_MODES = ("online", "offline", "disabled", "shared")
RESUME_CHOICES = ("allow", "never", "must", "auto")

# wandb.Settings.validate_project; entities share the URL paths (`{host}/{entity}/{project}`), so the rule too.
NAME_MAX = 128
NAME_RESERVED = "/\\#?%:"
RUN_ID_RESERVED = "/\\#?%:;,'"  # wandb.init's docstring and wandb.Settings.validate_run_id together
RUN_ID_MAX = 128  # the server caps names built from the id (`run-{id}-history`); derived ids use half
TAG_MAX = 64  # wandb.Settings.validate_run_tags: 1 to 64 characters
JOB_TYPE_MAX = 64  # the server refuses longer job types when the run is synced

SECRET_HINT = (
    "Secrets must never travel through wandb_config/@wandb_init: Flyte copies custom_context to every "
    "child task and shows it in the UI. Put the key in a Flyte secret and expose it as WANDB_API_KEY, e.g. "
    'flyte.TaskEnvironment(..., secrets=flyte.Secret(key="wandb_api_key", as_env_var="WANDB_API_KEY")).'
)

# Credential-only names of top-level arguments and settings keys (inside `config`, `max_tokens` is no secret).
_CREDENTIAL_NAME = re.compile(
    r"^(wandb_)?(api_?key|key|token|access_?token|auth_?token|bearer_?token|refresh_?token|access_?key|secret|"
    r"secret_?key|client_?secret|password|passwd|credentials?|private_?key)$|_(api_?key|access_?key|secret|secret_?key|"
    r"secret_access_key|password|access_?token|auth_?token|private_?key)$"
)
_MIN_SUBSTRING_SECRET = 8  # a shorter key could occur by chance inside text: only matched whole
_BOOL_WORDS = frozenset({"0", "off", "f", "false", "n", "no", "1", "on", "t", "true", "y", "yes"})

Check = Callable[[str, str, Any], None]  # check(where, name, value) raises WandbConfigError naming it; never given None


class WandbConfigError(ValueError):
    """Raised at decoration / configuration time when an argument is invalid."""


class WandbTrackingError(RuntimeError):
    """W&B could not be reached or refused the run, and ``on_error="raise"`` was requested."""

    # Defined here so that importing the package does not load the run-time modules.
    __module__ = "flyteplugins.wandb_core._lifecycle"


def is_secret_name(name: str) -> bool:  # as a top-level argument or settings key, it can only hold a credential
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).replace("-", "_").replace(".", "_").lower()
    return bool(_CREDENTIAL_NAME.search(snake))


def check_no_secret_arguments(where: str, names: Iterable[str]) -> None:
    for name in names:
        if isinstance(name, str) and is_secret_name(name):
            raise WandbConfigError(f"{where} got a secret-like argument {name!r}. {SECRET_HINT}")


def _live_key(env: Mapping[str, str] | None = None) -> str:
    return ((os.environ if env is None else env).get("WANDB_API_KEY") or "").strip()


def _holds(text: str, key: str) -> bool:
    return key in text if len(key) >= _MIN_SUBSTRING_SECRET else text.strip() == key


def _find_secret(value: Any, key: str, path: str) -> str | None:  # config['a'][0]: the first place holding key
    if not key:
        return None
    value = _settings_set(value) or value
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        return path if _holds(value, key) else None
    if isinstance(value, (Mapping, list, tuple, set, frozenset)):
        for k, v in value.items() if isinstance(value, Mapping) else enumerate(value):
            if isinstance(k, str) and _holds(k, key):
                return f"{path}[<redacted>]"
            if (found := _find_secret(v, key, f"{path}[{k!r}]")) is not None:
                return found
    return None


def check_no_secret_values(where: str, argument: str, value: Any, env: Mapping[str, str] | None = None) -> None:
    """Refuse the live W&B API key anywhere in ``value``; the error names where, never the key."""
    if (found := _find_secret(value, _live_key(env), argument)) is not None:
        raise WandbConfigError(f"{where}: {found} contains the W&B API key (the value of WANDB_API_KEY). {SECRET_HINT}")


def check_choice(argument: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise WandbConfigError(f"{argument}={value!r} is not valid; allowed values: {', '.join(map(repr, allowed))}.")


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
    if not isinstance(value, str):  # the type check reports it
        return
    if not value.strip():
        raise WandbConfigError(f"{where}: {argument} must not be empty or only whitespace, got {value!r}.")
    if len(value) > NAME_MAX:
        raise WandbConfigError(f"{where}: {argument} is {len(value)} characters long; W&B allows at most {NAME_MAX}.")
    if bad := sorted({c for c in value if c in NAME_RESERVED}):
        raise WandbConfigError(
            f"{where}: {argument}={value!r} contains {' '.join(bad)}; W&B names cannot contain any of "
            f"{' '.join(NAME_RESERVED)}."
        )


def run_id_problem(value: str) -> str | None:
    if not value.strip():
        return "it is only whitespace" if value else "it is empty"
    if value != value.strip():
        return "it starts or ends with whitespace"
    if bad := sorted({c for c in value if c in RUN_ID_RESERVED}):
        return f"it contains {' '.join(bad)} (run ids cannot contain any of {' '.join(RUN_ID_RESERVED)})"
    if len(value) > RUN_ID_MAX:
        return f"it is {len(value)} characters long (at most {RUN_ID_MAX})"
    return None


def check_run_id(where: str, argument: str, value: Any) -> None:
    if isinstance(value, str) and (problem := run_id_problem(value)):
        raise WandbConfigError(
            f"{where}: {argument}={value!r} is not a valid W&B run id: {problem}. Use letters, digits, "
            "'-', '_' and '.'; or leave it unset to get an id derived from the Flyte run and action."
        )


def check_tags(where: str, argument: str, tags: Any) -> None:
    if tags is None:
        return
    if not isinstance(tags, (list, tuple)) or not all(isinstance(t, str) for t in tags):
        # A bare string would be split into letters: show how to write it.
        got = f"the string {tags!r}; write {argument}=[{tags!r}]" if isinstance(tags, str) else repr(tags)
        raise WandbConfigError(f"{where}: {argument} must be a list or tuple of strings, got {got}.")
    for i, tag in enumerate(tags):
        if not tag or len(tag) > TAG_MAX:
            raise WandbConfigError(
                f"{where}: {argument}[{i}]={tag!r} is {len(tag)} characters; W&B tags must be 1 to "
                f"{TAG_MAX} characters."
            )


def check_resume(where: str, argument: str, value: Any) -> None:
    if not (value is None or isinstance(value, bool) or value in RESUME_CHOICES):
        choices = ", ".join(repr(c) for c in (*RESUME_CHOICES, True, False))
        raise WandbConfigError(f"{where}: {argument}={value!r} is not valid; allowed values: {choices}.")


def _settings_set(value: Any) -> dict[str, Any] | None:  # the fields set on a wandb.Settings (a merge keeps the rest)
    cls = type(value)
    if cls.__name__ != "Settings" or cls.__module__.split(".")[0] != "wandb" or not hasattr(value, "model_fields_set"):
        return None
    # Not model_dump(exclude_unset=True): that also returns computed fields, which Settings refuses as input.
    return {name: getattr(value, name) for name in sorted(value.model_fields_set)}


def check_decorator_argument(where: str, value: Any) -> None:  # @wandb_init("new"): only the function is positional
    if not isinstance(value, str):
        return
    if _find_secret(value, _live_key(), where) is not None:
        raise WandbConfigError(f"{where} got the W&B API key as a positional argument. {SECRET_HINT}")
    hint = f" Write {where}(run_mode={value!r})." if value in RUN_MODES else ""
    raise WandbConfigError(
        f"{where} takes keyword arguments only, got the positional argument {value!r}.{hint} "
        f"run_mode must be one of {', '.join(repr(m) for m in RUN_MODES)}."
    )


def check_decorator_target(where: str, obj: Any) -> None:
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


def setting_fits(kind: str, value: Any) -> bool:  # wandb.Settings takes it (pydantic, lax: "10" is a number)
    if value is None or kind == "any":
        return True
    if kind == "str":
        return isinstance(value, (str, bytes))
    if kind in ("int", "float"):
        if isinstance(value, str):
            with contextlib.suppress(ValueError):  # a str that is no number stays one, and is refused below
                value = float(value.strip())
        return isinstance(value, (int, float)) and (kind == "float" or isinstance(value, int) or value.is_integer())
    if kind == "bool":
        if isinstance(value, str):
            return value.strip().lower() in _BOOL_WORDS
        return isinstance(value, (bool, int, float)) and value in (0, 1)
    if kind in ("strs", "ints"):
        return isinstance(value, (list, tuple, set, frozenset)) and all(
            item is not None and setting_fits(kind[:-1], item) for item in value
        )
    return isinstance(value, Mapping) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def check_names(where: str, init_kwargs: Iterable[str], settings: Mapping[str, Any], wandb: Any = None) -> None:
    """Against the installed wandb line's recorded names; given ``wandb`` (run start), against it where none are."""
    accepted = _wandb_names.for_early_checks()
    if wandb is not None:
        accepted = _wandb_names.read_installed(wandb) if accepted is None else None
    if accepted is None:
        return
    known = accepted.init_kwargs
    for name in init_kwargs:
        if name not in known:
            raise WandbConfigError(
                f"{where} got an unknown argument {name!r}.{_did_you_mean(name, known)} Allowed: the plugin "
                f"options and the wandb.init arguments of wandb {accepted.release} "
                f"({', '.join(sorted(known))}). Hyperparameters go in config={{...}}."
            )
    for key, value in settings.items():
        if (kind := accepted.settings.get(key)) is None:
            raise WandbConfigError(
                f"{where}: settings[{key!r}] is not a wandb.Settings field.{_did_you_mean(key, accepted.settings)} "
                f"(installed: wandb {accepted.release}; see https://docs.wandb.ai/ref/python/settings for the fields)."
            )
        if key != "run_tags" and not setting_fits(kind, value):
            raise WandbConfigError(
                f"{where}: settings[{key!r}] must be {_wandb_names.KINDS[kind]} ({kind}, as wandb.Settings "
                f"declares it), got {type(value).__name__} {value!r}."
            )


def explicit_settings(where: str, named: Mapping[str, Any], kwargs: dict[str, Any], *, travels: bool) -> dict[str, Any]:
    """Checked ``@wandb_init``/``wandb_config`` settings, None left out; other ``wandb.init`` arguments: ``kwargs``."""
    values = {**named, **WANDB_FIELDS.take(kwargs)}
    if (given := kwargs.get("settings")) is not None:  # a wandb.Settings: the fields set, to merge with the context's
        kwargs["settings"] = dict(given) if isinstance(given, Mapping) else _settings_set(given)
        if kwargs["settings"] is None:
            check_no_secret_values(where, "settings", given)  # before the message below quotes the value
            raise WandbConfigError(
                f"{where}: settings must be a dict of wandb.Settings fields or a wandb.Settings object, "
                f"got {type(given).__name__} {given!r}."
            )
    # Secrets first (no later message may quote one), then the names wandb does not know.
    for name, value in (*values.items(), *kwargs.items()):
        check_no_secret_values(where, name, value)
    check_no_secret_arguments(where, kwargs.keys())
    settings = kwargs.get("settings") or {}
    check_no_secret_arguments(f"{where} settings", settings.keys())
    if bad := [key for key in settings if not isinstance(key, str)]:
        raise WandbConfigError(f"{where}: settings keys must be strings, got {bad[0]!r}.")
    check_names(where, kwargs.keys(), settings)
    check_resume(where, "resume", kwargs.get("resume"))
    for key in ("project", "entity"):
        check_wandb_name(where, f"settings[{key!r}]", settings.get(key))
    check_run_id(where, "settings['run_id']", settings.get("run_id"))
    check_tags(where, "settings['run_tags']", settings.get("run_tags"))
    check_resume(where, "settings['resume']", settings.get("resume"))
    if (mode := settings.get("mode")) not in (None, *WANDB_MODES, "dryrun", "run"):
        raise WandbConfigError(f"{where}: settings['mode']={mode!r} is not valid; allowed values: {WANDB_MODES}.")
    check_url(where, "settings['base_url']", settings.get("base_url"))
    WANDB_FIELDS.check(where, values)
    check_json(where, "config", values.get("config"))
    for name, value in ({"tags": values.get("tags"), **kwargs} if travels else {}).items():
        check_json(where, name, value)
    return {k: v for k, v in {**values, "kwargs": kwargs or None}.items() if v is not None}


class Field(NamedTuple):
    """One setting: ``kind`` ``"str"`` is carried as written, ``"json"`` JSON-encoded; ``role`` is ``"init"`` (a
    ``wandb.init`` argument), ``"resolved"`` (derived), ``"plugin"`` or ``"sweep"``; ``default`` is an unset value."""

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
    """Fields in order; their ``custom_context`` keys are ``prefix + name`` (not those with ``skip_prefix``)."""

    def __init__(self, *fields: Field, prefix: str, skip_prefix: str | None = None) -> None:
        self.fields = fields
        self.prefix = prefix
        self.skip_prefix = skip_prefix
        self.names = tuple(f.name for f in fields)
        self.str_fields = tuple(f.name for f in fields if f.kind == "str")
        self.json_fields = (*(f.name for f in fields if f.kind == "json"), "kwargs")  # kwargs: the rest, as JSON
        self.defaults: Mapping[str, Any] = {f.name: f.default for f in fields if f.default is not None}

    def with_role(self, role: str) -> tuple[str, ...]:
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
            if value is not None:
                both = key in nested and isinstance(merged.get(key), Mapping) and isinstance(value, Mapping)
                merged[key] = {**merged[key], **value} if both else value
        return merged

    def check(self, where: str, values: Mapping[str, Any]) -> None:
        for f in self.fields:
            if values.get(f.name) is not None and f.check is not None:
                f.check(where, f.name, values[f.name])

    def validate(self, where: str, values: Mapping[str, Any]) -> None:
        """Every check of settings that travel in custom_context: secrets first, fields, then JSON-ability."""
        for name, value in values.items():
            check_no_secret_values(where, name, value)
        self.check(where, values)
        check_no_secret_arguments(where, (values.get("kwargs") or {}).keys())
        for name in self.json_fields:
            check_json(where, name, values.get(name))  # None is JSON

    def owns(self, key: str) -> bool:
        return key.startswith(self.prefix) and not (self.skip_prefix and key.startswith(self.skip_prefix))

    def encode(self, values: Mapping[str, Any]) -> dict[str, str]:
        """Flatten settings to ``<prefix><name>`` string keys: JSON for lists/dicts/bools, None dropped."""
        as_json = (*self.json_fields, *(k for k, v in values.items() if isinstance(v, (list, dict, bool, tuple))))
        return {self.prefix + k: json.dumps(v) if k in as_json else str(v) for k, v in values.items() if v is not None}

    def decode(self, custom_context: Mapping[str, str] | None) -> dict[str, Any]:
        """The inverse of `encode`; an empty ``str`` field reads as unset (custom_context cannot delete a key)."""
        out: dict[str, Any] = {}
        for key, raw in (custom_context or {}).items():
            name = key[len(self.prefix) :]
            if not self.owns(key) or (raw == "" and name in self.str_fields):
                continue
            try:
                out[name] = raw if name in self.str_fields else json.loads(raw)
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
    Field("on_error", "str", "plugin", check=Field.choice(get_args(OnError))),
    Field("tags", "json", "init", check=check_tags),
    Field("config", "json", "init", check=Field.typed(Mapping, "a dict")),
    Field("download_logs", "json", "plugin", default=False, check=Field.typed(bool, "True or False")),
    Field("finish_timeout", "json", "plugin", check=_seconds),
    prefix="wandb_",
    skip_prefix="wandb_sweep_",
)
"""``wandb_config`` / ``@wandb_init`` settings; other ``wandb.init`` arguments travel in ``kwargs``."""
