"""A sweep's definition (W&B's rules, its parameters drawn as W&B does), `SweepState` and the `WandbSweep` link."""

import itertools
import json
import math
import random
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from flyteplugins.wandb_core import WandbConfigError
from flyteplugins.wandb_core.ext import ContextSettings, Field, FieldTable, WandbLink

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
SPEC_HINT = (
    "A parameter is one of {'values': [a, b, ...]} (non-empty), {'value': x}, or {'min': a, 'max': b} with "
    "a < b, optionally with a 'distribution'"
)

_RANGE = frozenset({"min", "max"})
# distribution -> (keys it needs, keys it may have besides those).
_DISTRIBUTIONS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "constant": (frozenset({"value"}), frozenset()),
    "categorical": (frozenset({"values"}), frozenset()),
    "categorical_w_probabilities": (frozenset({"values", "probabilities"}), frozenset()),
    "int_uniform": (_RANGE, frozenset()),
    "uniform": (_RANGE, frozenset()),
    "log_uniform": (_RANGE, frozenset()),
    "log_uniform_values": (_RANGE, frozenset()),
    "inv_log_uniform": (_RANGE, frozenset()),
    "inv_log_uniform_values": (_RANGE, frozenset()),
    "normal": (frozenset(), frozenset({"mu", "sigma"})),
    "log_normal": (frozenset(), frozenset({"mu", "sigma"})),
    "beta": (frozenset(), frozenset({"a", "b"})),
}
# Each q_ distribution takes what its base one does, and "q".
_QUANTIZED = ("uniform", "log_uniform", "log_uniform_values", "normal", "log_normal", "beta")
_DISTRIBUTIONS |= {f"q_{k}": (need, may | {"q"}) for k, (need, may) in _DISTRIBUTIONS.items() if k in _QUANTIZED}
DISTRIBUTIONS: tuple[str, ...] = tuple(sorted(_DISTRIBUTIONS))
_RANGES = frozenset(k for k, (need, _) in _DISTRIBUTIONS.items() if need == _RANGE)

# A run of the sweep as the engines see it: (parameters, state, summary).
Run = tuple[dict[str, Any], str, dict[str, Any]]


class ParameterError(ValueError):
    """A parameter spec W&B would refuse (the message names the rule broken)."""


@dataclass(frozen=True)
class Param:  # one leaf parameter: its distribution and its spec with W&B's defaults filled in
    kind: str
    spec: Mapping[str, Any]


def finite_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _infer(spec: Mapping[str, Any]) -> str:  # the distribution W&B assumes when a spec names none
    if "values" in spec:
        return "categorical_w_probabilities" if "probabilities" in spec else "categorical"
    if "value" in spec:
        return "constant"
    if "min" in spec and "max" in spec:
        return "int_uniform" if all(_integer(spec[k]) for k in ("min", "max")) else "uniform"
    raise ParameterError(SPEC_HINT)


def parse(spec: Any) -> Param:  # check one leaf spec (_check_parameter checked its shape) and return it as a Param
    kind = spec.get("distribution") or _infer(spec)
    need, may = _DISTRIBUTIONS[kind]
    if missing := sorted(need - set(spec)):
        raise ParameterError(f"distribution {kind!r} needs {', '.join(repr(k) for k in missing)}")
    if extra := sorted(set(spec) - need - may - {"distribution"}):
        raise ParameterError(
            f"{', '.join(repr(k) for k in extra)} not allowed with distribution {kind!r} "
            f"(it takes {', '.join(repr(k) for k in sorted(need | may))})"
        )
    for key in ("min", "max", "mu", "sigma", "a", "b", "q"):
        if key in spec and finite_number(spec[key]) is None:
            raise ParameterError(f"{key!r} must be a finite number, got {spec[key]!r}")
    if kind in _RANGES and not spec["min"] < spec["max"]:
        raise ParameterError(f"min {spec['min']} is not less than max {spec['max']}")
    if kind == "int_uniform" and not all(isinstance(spec[k], int) for k in ("min", "max")):
        raise ParameterError(f"int_uniform needs integer min and max, got {spec['min']!r}, {spec['max']!r}")
    if kind.endswith("log_uniform_values") and spec["min"] <= 0:
        raise ParameterError(f"{kind} needs min > 0 (the values themselves), got {spec['min']}")
    for key in ("q", "sigma", "a", "b"):
        if key in spec and spec[key] <= 0:
            raise ParameterError(f"{key!r} must be > 0, got {spec[key]}")
    if kind == "categorical_w_probabilities":
        probs = spec["probabilities"]
        if (
            not isinstance(probs, list)
            or len(probs) != len(spec["values"])
            or not all(finite_number(p) is not None and p >= 0 for p in probs)
            or not math.isclose(sum(probs), 1.0, abs_tol=1e-6)
        ):
            raise ParameterError("'probabilities' must be one non-negative number per value, summing to 1")
    defaults = {"mu": 0, "sigma": 1} if kind.endswith("normal") else {"a": 1, "b": 1} if kind.endswith("beta") else {}
    return Param(kind, {**defaults, **{k: v for k, v in spec.items() if k != "distribution"}})


def leaves(parameters: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every leaf spec (unchecked) with its path; raises `ParameterError` for an empty group."""
    for name, spec in parameters.items():
        path = (*prefix, str(name))
        # {"parameters": {...}} is a nested group, not a leaf.
        if isinstance(spec, Mapping) and set(spec) == {"parameters"} and isinstance(spec["parameters"], Mapping):
            if not spec["parameters"]:
                raise ParameterError(f"parameters[{'.'.join(path)!r}] is an empty group. {SPEC_HINT}.")
            yield from leaves(spec["parameters"], path)
        else:
            yield path, spec


def space(parameters: Mapping[str, Any]) -> list[tuple[tuple[str, ...], Param]]:  # the checked leaves
    return [(path, parse(spec)) for path, spec in leaves(parameters)]


def nest(values: Mapping[tuple[str, ...], Any]) -> dict[str, Any]:  # {path: value} -> nested dicts (groups), as on W&B
    out: dict[str, Any] = {}
    for path, value in values.items():
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return out


def flatten(config: Mapping[str, Any], paths: Sequence[tuple[str, ...]]) -> dict[tuple[str, ...], Any] | None:
    """A trial config -> ``{path: value}`` for ``paths``; None when one is missing (another space)."""
    out: dict[tuple[str, ...], Any] = {}
    for path in paths:
        node: Any = config
        for part in path:
            if not isinstance(node, Mapping) or part not in node:
                return None
            node = node[part]
        out[path] = node
    return out


def quantize(value: float, param: Param) -> float:
    # An integer q over integer-valued draws gives ints, as the user wrote them.
    q: float = param.spec.get("q", 1)
    rounded = round(value / q) * q
    return int(rounded) if isinstance(q, int) else rounded


# Each distribution (less its q_ prefix) drawn as W&B's engine draws it.
_DRAWS: dict[str, Callable[[Mapping[str, Any], random.Random], Any]] = {
    "constant": lambda s, rng: s["value"],
    "categorical": lambda s, rng: rng.choice(s["values"]),
    "categorical_w_probabilities": lambda s, rng: rng.choices(s["values"], weights=s["probabilities"])[0],
    "int_uniform": lambda s, rng: rng.randint(s["min"], s["max"]),
    "uniform": lambda s, rng: rng.uniform(s["min"], s["max"]),
    "log_uniform": lambda s, rng: math.exp(rng.uniform(s["min"], s["max"])),
    "log_uniform_values": lambda s, rng: math.exp(rng.uniform(math.log(s["min"]), math.log(s["max"]))),
    "inv_log_uniform": lambda s, rng: math.exp(-rng.uniform(s["min"], s["max"])),
    "normal": lambda s, rng: rng.gauss(s["mu"], s["sigma"]),
    "log_normal": lambda s, rng: rng.lognormvariate(s["mu"], s["sigma"]),
    "beta": lambda s, rng: rng.betavariate(s["a"], s["b"]),
}
# 1/X with X log-uniform on [1/max, 1/min] is log-uniform on [min, max] as well.
_DRAWS["inv_log_uniform_values"] = _DRAWS["log_uniform_values"]


def sample(param: Param, rng: random.Random) -> Any:
    x = _DRAWS[param.kind.removeprefix("q_")](param.spec, rng)
    return quantize(x, param) if param.kind.startswith("q_") else x


def key(value: Any) -> str:  # a comparable form of a parameter value or config (values may be lists or dicts)
    return json.dumps(value, sort_keys=True, default=str)


def grid(params: Sequence[tuple[tuple[str, ...], Param]]) -> Iterator[dict[tuple[str, ...], Any]]:
    """Every combination, in parameter order (the first parameter varies slowest)."""
    axes: list[list[Any]] = []
    for path, param in params:
        s, kind = param.spec, param.kind
        if kind == "constant":
            axes.append([s["value"]])
        elif kind.startswith("categorical"):
            axes.append(list(s["values"]))
        elif kind == "int_uniform":
            axes.append(list(range(s["min"], s["max"] + 1)))
        elif kind == "q_uniform":
            # As W&B's server does (numpy's arange): from min in steps of q, max itself excluded.
            q = s.get("q", 1)
            axes.append([s["min"] + i * q for i in range(math.ceil((s["max"] - s["min"]) / q - 1e-9))])
        else:
            raise ParameterError(
                f"Parameter {'.'.join(path)} is a disallowed type with grid search ({param.kind}): grid "
                "needs every parameter to be a list of 'values', a single 'value', or an "
                "'int_uniform'/'q_uniform' range"
            )
    for combo in itertools.product(*axes):
        yield {path: value for (path, _), value in zip(params, combo, strict=True)}


def distributions() -> tuple[str, ...]:
    return DISTRIBUTIONS


def _check_parameter(where: str, name: str, spec: Any) -> None:
    if not isinstance(spec, Mapping):
        raise WandbConfigError(
            f"{where}: parameters[{name!r}] must be a dict such as {{'values': [...]}}, "
            f"{{'value': x}} or {{'min': a, 'max': b}}; got {spec!r}."
        )
    if not spec:
        raise WandbConfigError(f"{where}: parameters[{name!r}] is {spec!r}. {SPEC_HINT}.")
    if "distribution" in spec and spec["distribution"] not in DISTRIBUTIONS:
        raise WandbConfigError(
            f"{where}: parameters[{name!r}]['distribution']={spec['distribution']!r} is not valid; allowed "
            f"values: {', '.join(repr(d) for d in DISTRIBUTIONS)}."
        )
    if "values" in spec and (not isinstance(spec["values"], list) or not spec["values"]):
        raise WandbConfigError(
            f"{where}: parameters[{name!r}]['values'] must be a non-empty list, got {spec['values']!r}."
        )
    try:
        parse(spec)
    except ParameterError as exc:
        raise WandbConfigError(
            f"{where}: parameters[{name!r}]={dict(spec)!r} is refused: {exc}. {SPEC_HINT} "
            f"(one of {', '.join(DISTRIBUTIONS)})."
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
    if metric is not None and not isinstance(metric, Mapping):
        problems.append(f"metric: {metric!r} is not a mapping like {{'name': 'loss', 'goal': 'minimize'}}")
    elif metric is not None:
        problems += [f"metric: unknown key {k!r}" for k in metric if k not in _METRIC_KEYS]
        if not isinstance(metric.get("name"), str) or not metric.get("name"):
            problems.append("metric: 'name' is required (the logged key to optimise)")
        if metric.get("goal", DEFAULT_GOAL) not in GOALS:
            problems.append(f"metric.goal: {metric['goal']!r} is not one of {', '.join(map(repr, GOALS))}")
    if (stop := config.get("early_terminate")) is None:
        return problems
    if not isinstance(stop, Mapping):
        return [*problems, f"early_terminate: {stop!r} is not a mapping like {{'type': 'hyperband', 'min_iter': 3}}"]
    problems += [f"early_terminate: unknown key {k!r}" for k in stop if k not in _HYPERBAND_KEYS]
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
    """Refuse what W&B would refuse, naming ``where`` (the call). Not ``complete``: a part (the rest may come from
    ``wandb_sweep_config`` or ``@wandb_sweep``), checked as complete once it has ``method`` and ``parameters``."""
    parameters = config.get("parameters")
    if parameters is not None and (not isinstance(parameters, Mapping) or not parameters):
        raise WandbConfigError(
            f"{where}: parameters must be a non-empty dict of parameter name -> specification, e.g. "
            f"{{'lr': {{'min': 0.0001, 'max': 0.1}}, 'batch_size': {{'values': [16, 32]}}}}; got {parameters!r}."
        )
    complete = complete or ("method" in config and "parameters" in config)
    if complete and not config.get("method"):
        raise WandbConfigError(
            f"{where}: the sweep definition has no method; allowed values: 'grid', 'random', 'bayes'. "
            "Set it with wandb_sweep_config(method=...) or @wandb_sweep(method=...)."
        )
    if complete and not parameters:
        raise WandbConfigError(
            f"{where}: the sweep definition has no parameters. Give them as "
            "parameters={'lr': {'min': 0.001, 'max': 0.1}, ...}."
        )
    found: list[tuple[tuple[str, ...], Any]] = []
    if parameters is not None:
        try:
            found = list(leaves(parameters))
        except ParameterError as exc:
            raise WandbConfigError(f"{where}: {exc}") from None
        for path, spec in found:
            _check_parameter(where, ".".join(path), spec)
    if problems := _top_level_problems(config):
        raise WandbConfigError(f"{where}: the sweep definition is refused: {'; '.join(problems)}.")
    if not complete:
        return
    if config["method"] == "bayes" and not (config.get("metric") or {}).get("name"):
        raise WandbConfigError(
            f"{where}: method='bayes' needs a metric to optimise (Bayesian search requires \"metric\"), "
            "e.g. metric={'name': 'loss', 'goal': 'minimize'}."
        )
    if config["method"] == "grid":
        try:
            next(grid([(path, parse(spec)) for path, spec in found]), None)
        except ParameterError as exc:
            raise WandbConfigError(f"{where}: the sweep engine cannot run this definition: {exc}.") from None


def check_positive(where: str, argument: str, value: Any) -> None:  # a number of seconds: poll_interval, idle_timeout
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise WandbConfigError(f"{where}: {argument} must be a positive number of seconds, got {value!r}.")


# Written by @wandb_sweep for the task body and its children.
SWEEP_ID_KEY = "_wandb_sweep_id"
SWEEP_PROJECT_KEY = "_wandb_sweep_project"
SWEEP_ENTITY_KEY = "_wandb_sweep_entity"
SWEEP_MODE_KEY = "_wandb_sweep_mode"
MAX_AGENTS = 20
SweepMode = Literal["online", "offline", "disabled"]


def _metric(where: str, name: str, metric: Any) -> None:
    if not isinstance(metric, Mapping) or not isinstance(metric.get("name"), str) or not metric["name"]:
        raise WandbConfigError(
            f"{where}: metric must be a dict with a 'name', e.g. {{'name': 'loss', 'goal': 'minimize'}}; "
            f"got {metric!r}."
        )
    Field.choice(GOALS)(where, "metric['goal']", metric.get("goal"))


def _prior_runs(where: str, name: str, prior: Any) -> None:
    if isinstance(prior, str) or not all(isinstance(r, str) for r in prior):
        raise WandbConfigError(f"{where}: prior_runs must be a list of run ids, got {prior!r}.")


# Role "sweep": part of the W&B sweep definition; "plugin": where and how the sweep runs in Flyte.
SWEEP_FIELDS = FieldTable(
    Field("name", "str", "sweep", check=Field.typed(str, "a string")),
    Field("method", "str", "sweep", check=Field.choice(METHODS)),
    Field("project", "str", "plugin", check=Field.wandb_name()),
    Field("entity", "str", "plugin", check=Field.wandb_name()),
    Field("metric", "json", "sweep", check=_metric),
    Field("parameters", "json", "sweep"),  # checked with the whole definition (validate_sweep_definition)
    Field("prior_runs", "json", "plugin", check=_prior_runs),
    Field("download_logs", "json", "plugin", default=False, check=Field.typed(bool, "True or False")),
    prefix="wandb_sweep_",
)
FIELDS = (*SWEEP_FIELDS.names, "kwargs")
PLACEMENT_FIELDS = SWEEP_FIELDS.with_role("plugin")


class WandbSweepConfig(ContextSettings):
    """A sweep definition for ``custom_context`` (build it with `wandb_sweep_config()`): a ``dict[str, str]``,
    a context manager (``with wandb_sweep_config(...): await task()``) and a parsed view (``cfg.method``)."""

    _table = SWEEP_FIELDS
    _label = "wandb_sweep_config"

    def values_dict(self) -> dict[str, Any]:
        return parse_context(self)

    def __getattr__(self, name: str) -> Any:
        if name == "early_terminate":
            return (self.values_dict().get("kwargs") or {}).get("early_terminate")
        return super().__getattr__(name)

    def to_sweep_config(self) -> dict[str, Any]:
        """The W&B sweep configuration (what ``wandb.sweep`` and the search engine read)."""
        return sweep_config_from_values(self.values_dict())


def parse_context(custom_context: Mapping[str, str] | None) -> dict[str, Any]:
    """``wandb_sweep_<field>`` keys as Python values; unknown ones (by hand, or a newer plugin) go to ``kwargs``."""
    decoded = SWEEP_FIELDS.decode(custom_context)
    out = {name: value for name, value in decoded.items() if name in FIELDS}
    if extra := {name: value for name, value in decoded.items() if name not in FIELDS}:
        out["kwargs"] = {**extra, **(out.get("kwargs") or {})}
    return out


def sweep_config_from_values(values: Mapping[str, Any]) -> dict[str, Any]:  # placement fields dropped, kwargs merged
    config = {k: v for k, v in values.items() if k not in PLACEMENT_FIELDS and k != "kwargs" and v is not None}
    return config | {k: v for k, v in (values.get("kwargs") or {}).items() if v is not None and k not in config}


def merge_values(decorator: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    """Decorator arguments over context values; ``kwargs`` merged key by key."""
    return SWEEP_FIELDS.merge(decorator, context, nested=("kwargs",))


def validate_values(where: str, values: Mapping[str, Any]) -> None:
    SWEEP_FIELDS.validate(where, values)
    early = (values.get("kwargs") or {}).get("early_terminate")
    if isinstance(early, Mapping):  # any other value: refused with the whole definition, below
        Field.choice(("hyperband",))(where, "early_terminate['type']", early.get("type"))
    validate_sweep_definition(where, sweep_config_from_values(values), complete=False)


def wandb_sweep_config(
    method: SweepMethod | None = None,
    metric: dict[str, Any] | None = None,
    parameters: dict[str, Any] | None = None,
    project: str | None = None,
    entity: str | None = None,
    prior_runs: list[str] | None = None,
    download_logs: bool | None = None,
    name: str | None = None,
    early_terminate: dict[str, Any] | None = None,
    **kwargs: Any,
) -> WandbSweepConfig:
    """Describe a W&B sweep for a ``@wandb_sweep`` task: pass it as ``flyte.with_runcontext(custom_context=...)``
    or use it as a ``with wandb_sweep_config(...):`` block around the call of the sweep task.

    Args:
        method: ``"grid"``, ``"random"`` or ``"bayes"``.
        metric: The metric to optimise (the run's summary value), e.g. ``{"name": "loss", "goal": "minimize"}``;
            required for ``bayes`` and ``early_terminate``.
        parameters: Parameter specifications, as in W&B sweep configs (``values``, ``min``/``max``, ...).
        project: W&B project of the sweep and its trials (else ``wandb_config(project=)``).
        entity: W&B entity (else ``wandb_config(entity=)``).
        prior_runs: Ids of existing runs to attach to the sweep (online) or to seed the search with (offline).
        download_logs: After the sweep, collect every trial's files as a ``flyte.io.Dir`` trace output.
        name: Sweep name; defaults to ``{run_name}-{action_name}`` of the sweep task.
        early_terminate: Early stopping, e.g. ``{"type": "hyperband", "min_iter": 3}``.
        **kwargs: Other sweep-config keys (``description``, ``run_cap``, ...); JSON-serializable.

    Raises:
        WandbConfigError: For invalid or non-JSON values.
    """
    if early_terminate is not None:
        kwargs["early_terminate"] = early_terminate
    values: dict[str, Any] = {
        "name": name,
        "method": method,
        "metric": metric,
        "parameters": parameters,
        "project": project,
        "entity": entity,
        "prior_runs": list(prior_runs) if isinstance(prior_runs, tuple) else prior_runs,
        "download_logs": download_logs,
        "kwargs": kwargs or None,
    }
    validate_values("wandb_sweep_config", values)
    return WandbSweepConfig(SWEEP_FIELDS.encode(values))


def get_wandb_sweep_context() -> WandbSweepConfig | None:
    """The sweep definition in the current Flyte task's ``custom_context``, or ``None``."""
    return WandbSweepConfig.from_task_context()


@dataclass
class SweepState:  # the sweep a task body works with: shared by the decorator, the launcher and the log collection
    sweep_id: str
    mode: SweepMode
    config: dict[str, Any]
    name: str | None = None
    project: str | None = None
    entity: str | None = None
    host: str | None = None
    download_logs: bool = False
    prior_runs: list[str] = field(default_factory=list)
    resumed: bool = False  # online: the sweep already existed on the server under this name
    # Children, even in this process, rebuild their own view from custom_context, as remote ones do.
    owner_action: str | None = None
    run_dirs: list[str] = field(default_factory=list)
    logs_collected: bool = False
    report: bool = False  # a report=True task: run_sweep_agents writes its trials into the task's W&B tab
    report_trials: list[Any] = field(default_factory=list)
    secrets: Any = None  # the sweep task's, for the built-in agent tasks
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def context_keys(self) -> dict[str, str]:  # the effective definition, for children that reuse the sweep
        config = dict(self.config)
        values: dict[str, Any] = {k: config.pop(k) for k in ("name", "method", "metric", "parameters") if k in config}
        values.update(project=self.project, entity=self.entity, kwargs=config or None)
        placed = {k: v for k, v in ((SWEEP_PROJECT_KEY, self.project), (SWEEP_ENTITY_KEY, self.entity)) if v}
        return {**SWEEP_FIELDS.encode(values), SWEEP_ID_KEY: self.sweep_id, SWEEP_MODE_KEY: self.mode, **placed}


@dataclass
class WandbSweep(WandbLink):
    """Link to a W&B sweep, ``{host}/{entity}/{project}/sweeps/{id}``, for ``@wandb_sweep`` and agent tasks (the
    sweep task's own link: the project's sweeps page; an offline sweep's: the W&B group of its trials).

    Args:
        host: W&B UI host; else ``wandb_config(host=)``, ``WANDB_BASE_URL``, then W&B cloud.
        project: W&B project; else ``wandb_sweep_config``, then ``wandb_config``.
        entity: W&B entity; same fallbacks as ``project``.
        id: A known sweep id.
        name: The link's label in the Flyte UI.
    """

    id: str | None = None
    name: str = "Weights & Biases Sweep"
    icon_uri: str = WandbLink.ICON

    def url(self, context: dict[str, str], *, run_name: str, action_name: str) -> str:
        host, wb_project, wb_entity = self.place(
            context,
            (SWEEP_PROJECT_KEY, "wandb_sweep_project", "wandb_project"),
            (SWEEP_ENTITY_KEY, "wandb_sweep_entity", "wandb_entity"),
        )
        if not (sweep_id := self.id or context.get(SWEEP_ID_KEY)):
            return self.project_url(host, wb_entity, wb_project, "sweeps")
        kind = "groups" if context.get(SWEEP_MODE_KEY) in ("offline", "disabled") else "sweeps"
        return self.project_url(host, wb_entity, wb_project, kind, sweep_id)
