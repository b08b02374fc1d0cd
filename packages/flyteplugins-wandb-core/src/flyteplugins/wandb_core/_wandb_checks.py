"""Checks against what the installed wandb accepts (``wandb.init`` arguments, ``wandb.Settings`` fields): the
recorded table at decoration, wandb itself before the run opens on a line the table lacks.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from . import _wandb_names
from ._validate import (
    WANDB_MODES,
    WandbConfigError,
    _did_you_mean,
    check_no_secret_arguments,
    check_no_secret_values,
    check_resume,
    check_run_id,
    check_tags,
    check_url,
    check_wandb_name,
    normalize_settings,
)


def check_init_kwargs(
    where: str,
    names: Iterable[str],
    plugin_options: Iterable[str] = (),
    wandb_names: _wandb_names.WandbNames | None = None,
) -> None:
    """Refuse names that are neither ``wandb.init`` arguments nor the plugin's own options.

    ``wandb_names`` defaults to the installed wandb's recorded line; on a line not recorded the check
    waits for `check_against_installed_wandb`.
    """
    accepted = wandb_names or _wandb_names.for_early_checks()
    if accepted is None:
        return
    known = set(accepted.init_kwargs) | set(plugin_options)
    for name in names:
        if name not in known:
            raise WandbConfigError(
                f"{where} got an unknown argument {name!r}.{_did_you_mean(name, known)} Allowed: the plugin "
                f"options and the wandb.init arguments of wandb {accepted.release} "
                f"({', '.join(sorted(known))}). Hyperparameters go in config={{...}}."
            )


_BOOL_WORDS = frozenset({"0", "off", "f", "false", "n", "no", "1", "on", "t", "true", "y", "yes"})


def _is_number(value: Any, whole: bool) -> bool:
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return False
    if not isinstance(value, (int, float)):
        return False
    return not whole or isinstance(value, int) or (math.isfinite(value) and float(value).is_integer())


def setting_fits(kind: str, value: Any) -> bool:
    """Whether ``wandb.Settings`` could take ``value`` for a field of this kind (`_wandb_names.KINDS`),
    as leniently as its pydantic lax mode (``"10"`` is a number, ``"yes"`` a bool)."""
    if value is None or kind == "any":
        return True
    if kind == "str":
        return isinstance(value, (str, bytes))
    if kind in ("int", "float"):
        return _is_number(value, whole=kind == "int")
    if kind == "bool":
        if isinstance(value, str):
            return value.strip().lower() in _BOOL_WORDS
        return isinstance(value, (bool, int, float)) and value in (0, 1)
    if kind in ("strs", "ints"):
        if not isinstance(value, (list, tuple, set, frozenset)):
            return False
        return all(item is not None and setting_fits(kind[:-1], item) for item in value)
    if kind == "strmap":
        return isinstance(value, Mapping) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    return True


def check_setting_names_and_types(
    where: str, settings: Mapping[str, Any], wandb_names: _wandb_names.WandbNames | None = None
) -> None:
    """Each key a ``wandb.Settings`` field, each value of its kind (judged as in `check_init_kwargs`)."""
    accepted = wandb_names or _wandb_names.for_early_checks()
    if accepted is None:
        return
    for key, value in settings.items():
        kind = accepted.settings.get(key)
        if kind is None:
            raise WandbConfigError(
                f"{where}: settings[{key!r}] is not a wandb.Settings field."
                f"{_did_you_mean(key, accepted.settings)} (installed: wandb {accepted.release}; see "
                "https://docs.wandb.ai/ref/python/settings for the fields)."
            )
        # run_tags has its own, stricter rule below (a bare string would become one tag per letter).
        if key != "run_tags" and not setting_fits(kind, value):
            raise WandbConfigError(
                f"{where}: settings[{key!r}] must be {_wandb_names.KINDS[kind]} ({kind}, as wandb.Settings "
                f"declares it), got {type(value).__name__} {value!r}."
            )


def check_against_installed_wandb(
    where: str, wandb: Any, init_kwargs: Iterable[str], settings: Mapping[str, Any]
) -> None:
    """Before a run opens, on a wandb line not recorded: the checks decoration left, against wandb itself."""
    if _wandb_names.for_early_checks() is not None:
        return
    live = _wandb_names.read_installed(wandb)
    check_init_kwargs(where, init_kwargs, wandb_names=live)
    check_setting_names_and_types(where, settings, wandb_names=live)


def check_settings(where: str, settings: Mapping[str, Any]) -> None:
    """The fields of a ``settings`` dict: known to wandb, no credentials, W&B's rules for the values."""
    check_no_secret_arguments(f"{where} settings", settings.keys())
    for key in settings:
        if not isinstance(key, str):
            raise WandbConfigError(f"{where}: settings keys must be strings, got {key!r}.")
    check_setting_names_and_types(where, settings)
    for key in ("project", "entity"):
        check_wandb_name(where, f"settings[{key!r}]", settings.get(key))
    check_run_id(where, "settings['run_id']", settings.get("run_id"))
    check_tags(where, "settings['run_tags']", settings.get("run_tags"))
    check_resume(where, "settings['resume']", settings.get("resume"))
    mode = settings.get("mode")
    if mode is not None and mode not in (*WANDB_MODES, "dryrun", "run"):
        raise WandbConfigError(f"{where}: settings['mode']={mode!r} is not valid; allowed values: {WANDB_MODES}.")
    check_url(where, "settings['base_url']", settings.get("base_url"))


def check_wandb_inputs(
    where: str, values: Mapping[str, Any], extra: Mapping[str, Any], plugin_options: Iterable[str] = ()
) -> None:
    """Secrets anywhere (first: no later message may quote the key), then the ``wandb.init`` keyword
    arguments ``extra`` that no named field of ``values`` covers (those are checked by `_fields`)."""
    for name, value in (*values.items(), *extra.items()):
        check_no_secret_values(where, name, value)
    check_no_secret_arguments(where, extra.keys())
    check_init_kwargs(where, extra.keys(), plugin_options)
    check_resume(where, "resume", extra.get("resume"))
    settings = extra.get("settings")
    if settings is not None:
        if not isinstance(settings, Mapping):
            normalize_settings(where, settings)  # raises with the allowed types
        else:
            check_settings(where, settings)
