"""Checks against what the installed wandb accepts: ``wandb.init`` arguments and ``wandb.Settings`` fields.

At decoration / ``wandb_config`` time they read the recorded table (``_wandb_names``: no wandb
import); on a wandb line the table lacks, `check_against_installed_wandb` runs them against wandb
itself just before the run opens.
"""

from __future__ import annotations

import functools
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
    check_wandb_name,
    normalize_settings,
)


def _judge(wandb_names: _wandb_names.WandbNames | None) -> _wandb_names.WandbNames | None:
    """What a check judges by: ``wandb_names``, else the installed wandb's recorded line.

    None on a line not recorded: the check then waits for `check_against_installed_wandb`, which runs
    before the run opens.
    """
    return wandb_names or _wandb_names.for_early_checks()


def check_init_kwargs(
    where: str,
    names: Iterable[str],
    plugin_options: Iterable[str] = (),
    wandb_names: _wandb_names.WandbNames | None = None,
) -> None:
    """Refuse names that are neither ``wandb.init`` arguments nor the plugin's own options (see `_judge`)."""
    accepted = _judge(wandb_names)
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
    """Whether ``wandb.Settings`` could take ``value`` for a field of this kind (`_wandb_names.KINDS`).

    As lenient as pydantic's lax mode that ``wandb.Settings`` validates with (``"10"`` is a number,
    ``"yes"`` a bool), so only a value wandb would refuse too is refused.
    """
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
        return isinstance(value, Mapping) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        )
    return True


def check_setting_names_and_types(
    where: str, settings: Mapping[str, Any], wandb_names: _wandb_names.WandbNames | None = None
) -> None:
    """Each key a ``wandb.Settings`` field of the installed wandb, each value of its kind (see `_judge`)."""
    accepted = _judge(wandb_names)
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
    """Before a run opens: the checks decoration left to the installed wandb, when its line is not recorded.

    wandb is imported by then, so its own ``wandb.init`` signature and ``wandb.Settings`` model are
    read; on a recorded line decoration has already judged the same names, so nothing is repeated.
    """
    if _wandb_names.for_early_checks() is not None:
        return
    live = _installed_names(wandb)
    check_init_kwargs(where, init_kwargs, wandb_names=live)
    check_setting_names_and_types(where, settings, wandb_names=live)


@functools.lru_cache(maxsize=1)
def _installed_names(wandb: Any) -> _wandb_names.WandbNames:
    return _wandb_names.read_installed(wandb)


def check_settings(where: str, settings: Mapping[str, Any]) -> None:
    """The fields of a ``settings`` dict: known to wandb, no credentials, W&B's rules for the values."""
    check_no_secret_arguments(f"{where} settings", settings.keys())
    for key in settings:
        if not isinstance(key, str):
            raise WandbConfigError(f"{where}: settings keys must be strings, got {key!r}.")
    check_setting_names_and_types(where, settings)
    arg = f"{where}: settings"
    for key in ("project", "entity"):
        check_wandb_name(where, f"settings[{key!r}]", settings.get(key))
    check_run_id(where, "settings['run_id']", settings.get("run_id"))
    check_tags(where, "settings['run_tags']", settings.get("run_tags"))
    check_resume(where, "settings['resume']", settings.get("resume"))
    mode = settings.get("mode")
    if mode is not None and mode not in (*WANDB_MODES, "dryrun", "run"):
        raise WandbConfigError(f"{arg}['mode']={mode!r} is not valid; allowed values: {WANDB_MODES}.")
    base_url = settings.get("base_url")
    if base_url is not None and not (
        isinstance(base_url, str) and base_url.startswith(("http://", "https://"))
    ):
        raise WandbConfigError(f"{arg}['base_url'] must start with http:// or https://, got {base_url!r}.")


def check_wandb_inputs(
    where: str, values: Mapping[str, Any], extra: Mapping[str, Any], plugin_options: Iterable[str] = ()
) -> None:
    """Secrets anywhere, then the ``wandb.init`` keyword arguments no named field covers.

    ``values`` are the named fields (project, id, tags, ...: their own checks are in the settings
    table, `_fields.WANDB_FIELDS`), ``extra`` the other ``wandb.init`` keyword arguments (``settings``
    already normalised to a dict). The secret checks run first, so no later message can quote the key.
    """
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
