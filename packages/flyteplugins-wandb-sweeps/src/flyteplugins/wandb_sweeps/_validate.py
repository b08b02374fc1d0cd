"""Sweep definitions checked by W&B's own sweep engine, early, with our message around its findings.

W&B publishes the validator its server applies (the ``sweeps`` package: a JSON schema plus checks the
schema cannot express, such as ``min < max``) and the search engine itself, which refuses what the
schema lets through (``bayes`` without a metric, ``grid`` over a continuous range) only when asked for
a trial. Both are asked here when ``wandb_sweep_config`` / ``@wandb_sweep`` are called, so a bad
definition never gets as far as a sweep task or an agent. Nothing here copies the schema: the
allowed distributions are read from the one ``sweeps`` ships.

Importing ``sweeps`` costs about a second (numpy, jsonschema); it happens on the first call here,
never on ``import flyteplugins.wandb``.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping
from typing import Any

from flyteplugins.wandb_core.ext import WandbConfigError

_SPEC_HINT = (
    "A parameter is one of {'values': [a, b, ...]} (non-empty), {'value': x}, or {'min': a, 'max': b} with "
    "a < b, optionally with a 'distribution'"
)
# Stand-ins used to check one part of a definition on its own (both are valid for every parameter kind).
_PLACEHOLDER_METHOD = "random"
_PLACEHOLDER_PARAMETERS = {"_": {"value": 0}}


def _sweeps() -> Any:
    try:
        with warnings.catch_warnings():
            # sweeps 0.3.0 still declares a pydantic-v1 style Config; harmless, but noisy on import.
            warnings.simplefilter("ignore", UserWarning)
            import sweeps
    except ImportError as exc:  # pragma: no cover - it is a hard dependency of this package
        raise ImportError(
            "Validating sweep definitions needs W&B's sweep engine: pip install 'flyteplugins-wandb[sweeps]'."
        ) from exc
    return sweeps


@functools.lru_cache(maxsize=1)
def distributions() -> tuple[str, ...]:
    """The parameter distributions W&B's schema allows, read from the schema ``sweeps`` ships."""
    _sweeps()
    from sweeps.config.schema import sweep_config_jsonschema

    names: set[str] = set()

    def walk(node: Any) -> None:  # the enums sit at any depth (some kinds are an anyOf of variants)
        if isinstance(node, dict):
            dist = (node.get("properties") or {}).get("distribution")
            if isinstance(dist, dict):
                names.update(dist.get("enum") or ())
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(sweep_config_jsonschema.get("definitions", {}))
    return tuple(sorted(names))


def _violations(config: Mapping[str, Any]) -> list[str]:
    """W&B's validator on ``config``; each finding prefixed with where it is when the schema says."""
    sweeps = _sweeps()
    from sweeps.config.schema import validator

    located = {
        error.message: f"{'.'.join(str(p) for p in error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(dict(config))
        if error.absolute_path
    }
    try:
        found = sweeps.schema_violations_from_proposed_config(dict(config))
    except ValueError as exc:
        found = [str(exc)]
    found = [located.get(message, message) for message in found]
    return list(dict.fromkeys(found))  # the validator reports some problems twice


def _leaves(parameters: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Parameters with nested ``{"parameters": {...}}`` groups flattened to dotted names.

    The schema's check of a nested group is exponential in its depth (seconds for one level) and the
    engine in ``sweeps`` 0.3 drops nested groups, so every leaf is checked on its own instead.
    """
    out: list[tuple[str, Any]] = []
    for name, spec in parameters.items():
        full = f"{prefix}{name}"
        if (
            isinstance(spec, Mapping)
            and set(spec) == {"parameters"}
            and isinstance(spec["parameters"], Mapping)
        ):
            if not spec["parameters"]:
                raise WandbConfigError(f"parameters[{full!r}] is an empty group. {_SPEC_HINT}.")
            out.extend(_leaves(spec["parameters"], f"{full}."))
        else:
            out.append((full, spec))
    return out


def _engine_refusal(config: Mapping[str, Any]) -> str | None:
    """What the search engine says when asked for a first trial (no runs, nothing sent anywhere)."""
    sweeps = _sweeps()
    from jsonschema import ValidationError

    try:
        sweeps.next_run(sweeps.SweepConfig(dict(config)), [])
    except (ValueError, ValidationError) as exc:
        return str(getattr(exc, "message", None) or exc)
    return None


def _check_parameter(where: str, name: str, spec: Any) -> None:
    if not isinstance(spec, Mapping) or not spec:
        raise WandbConfigError(f"{where}: parameters[{name!r}] is {spec!r}. {_SPEC_HINT}.")
    dist = spec.get("distribution")
    if dist is not None and dist not in distributions():
        raise WandbConfigError(
            f"{where}: parameters[{name!r}]['distribution']={dist!r} is not valid; allowed values: "
            f"{', '.join(repr(d) for d in distributions())}."
        )
    if "values" in spec and (not isinstance(spec["values"], list) or not spec["values"]):
        raise WandbConfigError(
            f"{where}: parameters[{name!r}]['values'] must be a non-empty list, got {spec['values']!r}."
        )
    problems = _violations({"method": _PLACEHOLDER_METHOD, "parameters": {name: spec}})
    if problems:
        raise WandbConfigError(
            f"{where}: parameters[{name!r}]={dict(spec)!r} is refused by W&B's sweep validator: "
            f"{'; '.join(problems)}. {_SPEC_HINT} (one of {', '.join(distributions())})."
        )


def validate_sweep_definition(where: str, config: Mapping[str, Any], *, complete: bool) -> None:
    """Refuse a sweep definition W&B's validator or engine would refuse, naming what is wrong.

    Args:
        where: The call being checked (``"wandb_sweep_config"``, ``"@wandb_sweep"``, ...).
        config: The sweep configuration (``method``, ``metric``, ``parameters``, ``run_cap``, ...).
        complete: The whole definition. Otherwise a part of it (the rest may come from the other of
            ``wandb_sweep_config`` and ``@wandb_sweep``), checked with stand-ins for what is missing;
            a part that has both ``method`` and ``parameters`` is checked as complete.
    """
    config = dict(config)
    complete = complete or ("method" in config and "parameters" in config)
    if complete and not config.get("method"):
        raise WandbConfigError(
            f"{where}: the sweep definition has no method; allowed values: 'grid', 'random', 'bayes'. "
            "Set it with wandb_sweep_config(method=...) or @wandb_sweep(method=...)."
        )
    parameters = config.get("parameters")
    if complete and not parameters:
        raise WandbConfigError(
            f"{where}: the sweep definition has no parameters. Give them as "
            "parameters={'lr': {'min': 0.001, 'max': 0.1}, ...}."
        )
    leaves: list[tuple[str, Any]] = []
    if isinstance(parameters, Mapping):
        try:
            leaves = _leaves(parameters)
        except WandbConfigError as exc:
            raise WandbConfigError(f"{where}: {exc}") from None
        for name, spec in leaves:
            _check_parameter(where, name, spec)
    # The rest of the definition (method, metric, run_cap, early_terminate, unknown keys), with the
    # parameters, already checked, stood in for.
    probe = {**config, "parameters": _PLACEHOLDER_PARAMETERS}
    probe.setdefault("method", _PLACEHOLDER_METHOD)
    problems = _violations(probe)
    if problems:
        raise WandbConfigError(
            f"{where}: the sweep definition is refused by W&B's sweep validator: {'; '.join(problems)}."
        )
    if not complete:
        return
    refusal = _engine_refusal({**config, "parameters": dict(leaves)})
    if refusal:
        raise WandbConfigError(
            f"{where}: W&B's sweep engine cannot run this definition: {refusal}. For method='bayes' "
            "give metric={'name': ..., 'goal': 'minimize'|'maximize'}; method='grid' needs every parameter "
            "to be a list of 'values', a single 'value', or an 'int_uniform'/'q_uniform' range."
        )


def check_positive(where: str, argument: str, value: Any) -> None:
    """A positive number of seconds (``poll_interval``, ``idle_timeout``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise WandbConfigError(f"{where}: {argument} must be a positive number of seconds, got {value!r}.")
