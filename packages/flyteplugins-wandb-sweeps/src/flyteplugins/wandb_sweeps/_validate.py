"""Sweep definitions checked early with W&B's rules (what its server refuses), so a bad one never
reaches a sweep task or agent. Pure Python: nothing here imports numpy or an engine."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

from flyteplugins.wandb_core import WandbConfigError

from . import _space

SweepMethod = Literal["grid", "random", "bayes"]
"""Search strategy: ``"grid"``, ``"random"`` or ``"bayes"``."""

METHODS: tuple[str, ...] = get_args(SweepMethod)
GOALS = ("minimize", "maximize")
DEFAULT_GOAL = GOALS[0]  # W&B's when a metric names none
# W&B's top-level sweep-config keys (anything else is a typo to refuse).
TOP_LEVEL_KEYS = frozenset(
    {
        "apiVersion", "kind", "controller", "description", "program", "job", "image_uri", "entity",
        "project", "method", "command", "name", "run_cap", "metric", "metrics", "scheduler",
        "early_terminate", "parameters",
    }
)  # fmt: skip
_METRIC_KEYS = frozenset({"name", "goal", "target", "impute", "impute_while_running"})
_HYPERBAND_KEYS = frozenset({"type", "min_iter", "max_iter", "s", "eta", "strict"})


def distributions() -> tuple[str, ...]:
    """The parameter distributions W&B's sweep configuration allows."""
    return _space.DISTRIBUTIONS


def _check_parameter(where: str, name: str, spec: Any) -> None:
    if not isinstance(spec, Mapping) or not spec:
        raise WandbConfigError(f"{where}: parameters[{name!r}] is {spec!r}. {_space.SPEC_HINT}.")
    if "distribution" in spec and spec["distribution"] not in _space.DISTRIBUTIONS:
        raise WandbConfigError(
            f"{where}: parameters[{name!r}]['distribution']={spec['distribution']!r} is not valid; allowed "
            f"values: {', '.join(repr(d) for d in _space.DISTRIBUTIONS)}."
        )
    if "values" in spec and (not isinstance(spec["values"], list) or not spec["values"]):
        raise WandbConfigError(
            f"{where}: parameters[{name!r}]['values'] must be a non-empty list, got {spec['values']!r}."
        )
    try:
        _space.parse(spec)
    except _space.ParameterError as exc:
        raise WandbConfigError(
            f"{where}: parameters[{name!r}]={dict(spec)!r} is refused: {exc}. {_space.SPEC_HINT} "
            f"(one of {', '.join(_space.DISTRIBUTIONS)})."
        ) from None


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _top_level_problems(config: Mapping[str, Any]) -> list[str]:
    problems = [
        f"unknown key {k!r} (Additional properties are not allowed ({k!r} was unexpected)); allowed keys: "
        f"{', '.join(sorted(TOP_LEVEL_KEYS))}"
        for k in config
        if k not in TOP_LEVEL_KEYS
    ]
    method = config.get("method")
    if method is not None and method not in METHODS:
        problems.append(f"method: {method!r} is not one of {', '.join(repr(m) for m in METHODS)}")
    if "run_cap" in config:
        cap = config["run_cap"]
        if not _integer(cap):
            problems.append(f"run_cap: {cap!r} is not an integer")
        elif cap <= 0:
            problems.append(f"run_cap: {cap} is less than or equal to the minimum of 0")
    metric = config.get("metric")
    if metric is not None:
        if not isinstance(metric, Mapping):
            problems.append(f"metric: {metric!r} is not a mapping like {{'name': 'loss', 'goal': 'minimize'}}")
        else:
            problems += [f"metric: unknown key {k!r}" for k in metric if k not in _METRIC_KEYS]
            if not isinstance(metric.get("name"), str) or not metric.get("name"):
                problems.append("metric: 'name' is required (the logged key to optimise)")
            if metric.get("goal", DEFAULT_GOAL) not in GOALS:
                problems.append(f"metric.goal: {metric['goal']!r} is not one of {', '.join(map(repr, GOALS))}")
    stop = config.get("early_terminate")
    if stop is not None:
        problems += _hyperband_problems(stop)
    return problems


def _hyperband_problems(stop: Any) -> list[str]:
    if not isinstance(stop, Mapping):
        return [f"early_terminate: {stop!r} is not a mapping like {{'type': 'hyperband', 'min_iter': 3}}"]
    problems = [f"early_terminate: unknown key {k!r}" for k in stop if k not in _HYPERBAND_KEYS]
    if stop.get("type") != "hyperband":
        problems.append(f"early_terminate.type: {stop.get('type')!r} is not 'hyperband'")
    if "min_iter" not in stop and not {"max_iter", "s"} <= set(stop):
        problems.append("early_terminate: give 'min_iter', or 'max_iter' and 's'")
    for k in ("min_iter", "max_iter"):
        if k in stop and (not _integer(stop[k]) or stop[k] < 1):
            problems.append(f"early_terminate.{k}: {stop[k]!r} is not an integer >= 1")
    eta = stop.get("eta", 3)
    if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not eta > 1:
        problems.append(f"early_terminate.eta: {eta!r} is not a number > 1")
    return problems


def validate_sweep_definition(where: str, config: Mapping[str, Any], *, complete: bool) -> None:
    """Refuse a sweep definition W&B would refuse, naming what is wrong and ``where`` (the call).

    Not ``complete``: a part (the rest may come from the other of ``wandb_sweep_config`` and
    ``@wandb_sweep``), checked as complete once it has both ``method`` and ``parameters``.
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
    leaves: list[tuple[tuple[str, ...], Any]] = []
    if parameters is not None and not isinstance(parameters, Mapping):
        raise WandbConfigError(f"{where}: parameters must be a mapping of name -> spec, got {parameters!r}.")
    if isinstance(parameters, Mapping):
        try:
            leaves = list(_space.leaves(parameters))
        except _space.ParameterError as exc:
            raise WandbConfigError(f"{where}: {exc}") from None
        for path, spec in leaves:
            _check_parameter(where, ".".join(path), spec)
    problems = _top_level_problems(config)
    if problems:
        raise WandbConfigError(f"{where}: the sweep definition is refused: {'; '.join(problems)}.")
    if not complete:
        return
    metric = config.get("metric") or {}
    if config["method"] == "bayes" and not metric.get("name"):
        raise WandbConfigError(
            f"{where}: method='bayes' needs a metric to optimise (Bayesian search requires \"metric\"), "
            "e.g. metric={'name': 'loss', 'goal': 'minimize'}."
        )
    if config["method"] == "grid":
        try:
            next(_space.grid([(path, _space.parse(spec)) for path, spec in leaves]), None)
        except _space.ParameterError as exc:
            raise WandbConfigError(f"{where}: the sweep engine cannot run this definition: {exc}.") from None


def check_positive(where: str, argument: str, value: Any) -> None:
    """A positive number of seconds (``poll_interval``, ``idle_timeout``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise WandbConfigError(f"{where}: {argument} must be a positive number of seconds, got {value!r}.")
