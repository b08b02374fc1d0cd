"""The offline sweep controller and its engines: grid/random, W&B's own, and Optuna for bayes (docs/sweeps.md)."""

import copy
import dataclasses
import hashlib
import math
import numbers
import operator
import random
import sys
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

from flyteplugins.wandb_core import WandbConfigError

from . import _config
from ._config import DEFAULT_GOAL, GOALS, Run, finite_number, validate_sweep_definition

ENGINES = ("wandb", "optuna")
EXTRA = "flyteplugins-wandb[sweeps-wandb-engine]"


def validate_sweep_config(config: Mapping[str, Any]) -> dict[str, Any]:  # by W&B's rules; returned with W&B's defaults
    if config.get("early_terminate") and not (config.get("metric") or {}).get("name"):
        raise WandbConfigError("early_terminate needs a metric, e.g. metric={'name': 'loss', 'goal': 'minimize'}.")
    validate_sweep_definition("the sweep definition", config, complete=True)
    filled = copy.deepcopy(dict(config))
    if filled.get("metric"):
        filled["metric"].setdefault("goal", DEFAULT_GOAL)
    if filled.get("early_terminate"):
        filled["early_terminate"].setdefault("eta", 3)
    return filled


def unwrap_params(config: Mapping[str, Any]) -> dict[str, Any]:  # {"lr": {"value": 0.1}} -> {"lr": 0.1}
    return {k: (v.get("value") if isinstance(v, Mapping) and "value" in v else v) for k, v in config.items()}


def wrap_params(params: Mapping[str, Any]) -> dict[str, Any]:  # unwrap_params' inverse (the loopback server calls both)
    return {k: {"value": v} for k, v in params.items()}


class BuiltinSearch:
    """W&B's ``grid`` (each combination once, skipping any a prior launch ran) and ``random``. Every search has
    ``ask() -> (handle, params) | None`` and ``tell(handle, state, summary)``; a stopper also ``observe(...)``."""

    def __init__(self, config: Mapping[str, Any], prior: Sequence[Run] = (), seed: int | None = None) -> None:
        self._params = _config.space(config["parameters"])
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        grid = config["method"] == "grid"
        self._grid = _config.grid(self._params) if grid else None
        flats = [_config.flatten(params, [p for p, _ in self._params]) for params, _, _ in prior] if grid else []
        self._seen = {_config.key(list(flat.values())) for flat in flats if flat is not None}

    def ask(self) -> tuple[None, dict[str, Any]] | None:
        with self._lock:
            if self._grid is None:
                return None, _config.nest({p: _config.sample(param, self._rng) for p, param in self._params})
            for combo in self._grid:
                if (k := _config.key(list(combo.values()))) not in self._seen:
                    self._seen.add(k)
                    return None, _config.nest(combo)
            return None

    def tell(self, handle: Any, state: str, summary: Mapping[str, Any]) -> None:
        pass  # grid and random do not learn from outcomes


def sweeps_module() -> Any:  # W&B's sweeps (engine='wandb'; an extra: it pins numpy<2), else an error naming it
    try:
        with warnings.catch_warnings():
            # sweeps 0.3.0 still declares a pydantic-v1 style Config; harmless, but noisy on import.
            warnings.simplefilter("ignore")
            import sweeps

        # A folder named "sweeps" on sys.path (a project's tests, say) imports as a namespace package.
        if not callable(getattr(sweeps, "next_runs", None)):
            raise ImportError("not W&B's sweeps engine")
    except ImportError:
        raise WandbConfigError(
            f"run_sweep_agents: engine='wandb' needs W&B's sweep engine (the `sweeps` package), which is "
            f"not installed: pip install '{EXTRA}'. It pins numpy<2; the default engine needs nothing more."
        ) from None
    return sweeps


class WandbSearch:  # asks sweeps.next_runs / sweeps.stop_runs with every run so far, as the server does
    def __init__(self, config: Mapping[str, Any], prior: Sequence[Run] = ()) -> None:
        self._sweeps = sweeps_module()
        from jsonschema import ValidationError

        try:
            self.config = dict(self._sweeps.SweepConfig(dict(config)))
        except (ValidationError, ValueError) as exc:
            raise WandbConfigError(
                f"W&B's sweep engine refuses the definition: {getattr(exc, 'message', exc)}"
            ) from None
        self.metric_name: str | None = (self.config.get("metric") or {}).get("name")
        self._lock = threading.Lock()
        self._runs: dict[str, dict[str, Any]] = {
            f"prior-{i}": {"params": params, "state": state, "summary": summary, "history": []}
            for i, (params, state, summary) in enumerate(prior)
        }

    def _engine_runs(self) -> list[Any]:
        rs = self._sweeps.RunState
        states = {"finished": rs.finished, "failed": rs.failed, "stopped": rs.killed}
        out = []
        for name, run in self._runs.items():
            value = finite_number(run["summary"].get(self.metric_name)) if self.metric_name else None
            out.append(
                self._sweeps.SweepRun(
                    name=name,
                    state=states.get(run["state"], rs.running),
                    config=wrap_params(run["params"]),
                    # The engine only reads the sweep metric; non-finite values would break bayes.
                    summary_metrics={} if value is None else {self.metric_name: value},
                    history=run["history"],
                )
            )
        return out

    def ask(self) -> tuple[str, dict[str, Any]] | None:
        with self._lock, warnings.catch_warnings():
            # The engine's Gaussian process warns about length-scale bounds on easy objectives.
            warnings.simplefilter("ignore")
            (suggestion,) = self._sweeps.next_runs(self.config, self._engine_runs(), validate=False, n=1)
            if suggestion is None:  # the grid is complete
                return None
            name = f"run-{len(self._runs)}"
            params = unwrap_params(suggestion.config)
            self._runs[name] = {"params": params, "state": "running", "summary": {}, "history": []}
            return name, params

    def tell(self, handle: str, state: str, summary: Mapping[str, Any]) -> None:
        with self._lock:
            self._runs[handle].update(state=state, summary=dict(summary))

    def observe(self, handle: str, step: int, value: float) -> bool:
        with self._lock:
            self._runs[handle]["history"].append({self.metric_name: value})
            try:
                to_stop = self._sweeps.stop_runs(self.config, self._engine_runs(), validate=False)
            except ValueError:
                return False
            return any(run.name == handle for run in to_stop)


# The normal family's latent quantile stays off 0 and 1, where the inverse CDF is infinite.
_EDGE = 1e-6


@dataclass
class OptunaEngine:
    """Drive an offline sweep with Optuna: ``run_sweep_agents(..., engine=OptunaEngine(...))``; the W&B sweep
    definition still gives the parameters, the metric and ``early_terminate``.

    Args:
        sampler: Any ``optuna.samplers.BaseSampler`` (``TPESampler()``, ``NSGAIISampler()``, ...). None: the
            Gaussian-process sampler ``method: bayes`` uses.
        pruner: An ``optuna.pruners.BasePruner`` that stops running trials from the metric they log. None:
            the definition's ``early_terminate: hyperband`` as Optuna's successive-halving pruner, else none.
        metrics: Several metrics to optimise together, ``{"loss": "minimize", "accuracy": "maximize"}``
            (use a multi-objective sampler such as ``NSGAIISampler``; no pruning). None: the definition's.
        seed: Seed of the default sampler (ignored when ``sampler`` is given).
    """

    sampler: Any = None
    pruner: Any = None
    metrics: Mapping[str, str] | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        # Refused here, not later in every agent; an Optuna object means Optuna is imported already.
        optuna = sys.modules.get("optuna")
        for name, kind in (("sampler", "samplers.BaseSampler"), ("pruner", "pruners.BasePruner")):
            value = getattr(self, name)
            if value is None or (optuna is not None and isinstance(value, operator.attrgetter(kind)(optuna))):
                continue
            got = (
                f"the class {value.__name__}: write {value.__name__}()"
                if isinstance(value, type)
                else f"{type(value).__name__} {value!r}"
            )
            raise WandbConfigError(f"OptunaEngine: {name} must be an optuna.{kind} instance, got {got}.")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral)):
            raise WandbConfigError(f"OptunaEngine: seed must be an int, got {type(self.seed).__name__} {self.seed!r}.")
        if self.metrics is None:
            return
        if not isinstance(self.metrics, Mapping) or not self.metrics:
            raise WandbConfigError(
                f"OptunaEngine: metrics must be a non-empty mapping of name -> {'|'.join(map(repr, GOALS))}, "
                f"got {self.metrics!r}."
            )
        for name, goal in self.metrics.items():
            if goal not in GOALS:
                raise WandbConfigError(
                    f"OptunaEngine: metrics[{name!r}]={goal!r}; allowed values: {', '.join(map(repr, GOALS))}."
                )

    def objectives(self, config: Mapping[str, Any]) -> list[tuple[str, str]]:
        """``[(metric, goal), ...]`` this engine optimises."""
        if self.metrics is None:
            metric = config.get("metric") or {}
            if not metric.get("name"):
                raise WandbConfigError(
                    "run_sweep_agents: engine=OptunaEngine(...) needs a metric: give the sweep definition "
                    "metric={'name': 'loss', 'goal': 'minimize'} or OptunaEngine(metrics={...})."
                )
            return [(metric["name"], metric.get("goal") or DEFAULT_GOAL)]
        if len(self.metrics) > 1 and (self.pruner is not None or config.get("early_terminate")):
            raise WandbConfigError(
                "OptunaEngine: early termination (pruner / early_terminate) needs a single metric; "
                f"metrics has {len(self.metrics)}."
            )
        return list(self.metrics.items())


@dataclass
class _Axis:
    distribution: Any  # an optuna distribution; None for a constant
    decode: Callable[[Any], Any]
    encode: Callable[[Any], Any]  # raises ValueError when the value is not in this axis' space


def _inside(lo: float, hi: float, x: float) -> float:
    if not lo <= x <= hi:
        raise ValueError(f"{x} outside [{lo}, {hi}]")
    return x


def _axis(param: _config.Param) -> _Axis:
    from optuna import distributions as dists

    s, kind = param.spec, param.kind
    quant = kind.startswith("q_")

    def done(x: float) -> Any:
        return _config.quantize(x, param) if quant else x

    if kind == "constant":
        return _Axis(None, lambda _: s["value"], lambda v: v)
    if kind.startswith("categorical"):
        keys = [_config.key(v) for v in s["values"]]
        # Optuna's categorical choices must be plain scalars; the index stands in for lists and dicts.
        return _Axis(
            dists.CategoricalDistribution(list(range(len(keys)))),
            lambda i: s["values"][i],
            lambda v: keys.index(_config.key(v)),
        )
    if kind == "int_uniform":
        return _Axis(dists.IntDistribution(s["min"], s["max"]), int, lambda v: int(_inside(s["min"], s["max"], v)))
    lo, hi = float(s["min"]) if "min" in s else 0.0, float(s["max"]) if "max" in s else 1.0
    if kind in ("uniform", "q_uniform"):
        return _Axis(dists.FloatDistribution(lo, hi), done, lambda v: _inside(lo, hi, float(v)))
    if kind in ("log_uniform", "q_log_uniform"):  # min/max are natural logs
        return _Axis(
            dists.FloatDistribution(lo, hi), lambda x: done(math.exp(x)), lambda v: _inside(lo, hi, math.log(v))
        )
    if kind in ("log_uniform_values", "q_log_uniform_values", "inv_log_uniform_values"):
        return _Axis(dists.FloatDistribution(lo, hi, log=True), done, lambda v: _inside(lo, hi, float(v)))
    if kind == "inv_log_uniform":  # exp(-X), X uniform on [min, max]
        return _Axis(dists.FloatDistribution(lo, hi), lambda x: math.exp(-x), lambda v: _inside(lo, hi, -math.log(v)))
    if kind.endswith("normal"):
        normal = NormalDist(s["mu"], s["sigma"])
        log = kind.endswith("log_normal")
        return _Axis(
            dists.FloatDistribution(_EDGE, 1 - _EDGE),
            lambda u: done(math.exp(normal.inv_cdf(u)) if log else normal.inv_cdf(u)),
            lambda v: _inside(_EDGE, 1 - _EDGE, normal.cdf(math.log(v) if log else v)),
        )
    # beta, q_beta: the support itself (the stdlib has no inverse beta CDF; the prior's shape is lost).
    return _Axis(dists.FloatDistribution(0.0, 1.0), done, lambda v: _inside(0.0, 1.0, float(v)))


@dataclass
class OptunaSearch:  # an Optuna study in memory; with sample=False it suggests nothing and only prunes
    config: Mapping[str, Any]
    engine: OptunaEngine
    prior: Sequence[_config.Run] = ()
    sample: bool = True
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        import optuna

        self._optuna = optuna
        self.objectives = self.engine.objectives(self.config)
        self._axes = {path: _axis(p) for path, p in _config.space(self.config["parameters"])} if self.sample else {}
        self._dists = {".".join(p): a.distribution for p, a in self._axes.items() if a.distribution is not None}
        pruner, sampler, stop = self.engine.pruner, self.engine.sampler, self.config.get("early_terminate")
        if pruner is None and stop:
            # W&B's hyperband: one bracket of async successive halving; without min_iter, s bands below max_iter.
            eta = max(2, round(stop.get("eta", 3)))
            min_iter = stop.get("min_iter") or max(1, int(stop["max_iter"] / eta ** stop.get("s", 1)))
            pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=min_iter, reduction_factor=eta)
        if sampler is None and self.sample:
            from ._gp import GaussianProcessSampler

            sampler = GaussianProcessSampler(seed=self.engine.seed)
        directions: list[Any] = [goal for _, goal in self.objectives]
        self.study = optuna.create_study(
            directions=directions,
            sampler=sampler or optuna.samplers.RandomSampler(),
            pruner=pruner or optuna.pruners.NopPruner(),
        )
        for params, state, summary in self.prior:
            self._add_prior(params, state, summary)

    def _values(self, summary: Mapping[str, Any]) -> list[float] | None:
        values = [finite_number(summary.get(name)) for name, _ in self.objectives]
        return [v for v in values if v is not None] if None not in values else None

    def _add_prior(self, params: Mapping[str, Any], state: str, summary: Mapping[str, Any]) -> None:
        values = self._values(summary)
        flat = _config.flatten(params, list(self._axes))
        if state != "finished" or values is None or not self._dists or flat is None:
            return
        try:
            latent = {".".join(p): a.encode(flat[p]) for p, a in self._axes.items() if a.distribution is not None}
        except (ValueError, TypeError, OverflowError):
            return  # from an earlier definition of this sweep: outside today's space
        trial = self._optuna.trial.create_trial(params=latent, distributions=self._dists, values=values)
        self.study.add_trial(trial)

    def ask(self) -> tuple[Any, dict[str, Any]]:
        with self._lock, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. TPE's notes on independent sampling
            trial = self.study.ask(self._dists)
        # A constant's axis has no distribution, so no entry in the trial's params.
        return trial, _config.nest({p: a.decode(trial.params.get(".".join(p))) for p, a in self._axes.items()})

    def tell(self, trial: Any, state: str, summary: Mapping[str, Any]) -> None:
        states = self._optuna.trial.TrialState
        values = self._values(summary) if state == "finished" else None
        with self._lock, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if values is not None:
                self.study.tell(trial, values)
            elif state == "stopped" and len(self.objectives) == 1:
                self.study.tell(trial, state=states.PRUNED)  # its last reported value counts
            else:
                self.study.tell(trial, state=states.FAIL)

    def observe(self, trial: Any, step: int, value: float) -> bool:
        with self._lock:
            trial.report(value, step)
            return bool(trial.should_prune())


def check_engine(engine: Any) -> Any:
    if engine == "wandb":
        sweeps_module()  # missing: an error naming the extra, before the sweep starts
    # Optuna is imported already when the engine is a sampler instance: no need to import it otherwise.
    optuna = sys.modules.get("optuna")
    sampler = optuna is not None and isinstance(engine, optuna.samplers.BaseSampler)
    if engine is None or engine in ENGINES or isinstance(engine, OptunaEngine) or sampler:
        return engine
    raise WandbConfigError(
        f"run_sweep_agents: engine={engine!r} is not valid; allowed values: None (the definition's "
        "method), 'optuna', 'wandb', an OptunaEngine(...), or an optuna.samplers.BaseSampler instance."
    )


def make_searches(config: Mapping[str, Any], engine: Any, prior: list[Run], seed: int | None = None) -> tuple[Any, Any]:
    """(what suggests trials, what stops running ones or None); ``seed`` seeds default samplers."""
    engine = check_engine(engine)
    if engine == "wandb":
        wandb_search = WandbSearch(config, prior)
        return wandb_search, wandb_search if config.get("early_terminate") else None
    if engine == "optuna" or (engine is None and config["method"] == "bayes"):
        engine = OptunaEngine()
    elif engine is not None and not isinstance(engine, OptunaEngine):
        engine = OptunaEngine(sampler=engine)
    if isinstance(engine, OptunaEngine):
        if engine.sampler is None and engine.seed is None:
            engine = dataclasses.replace(engine, seed=seed)
        search = OptunaSearch(config, engine, prior)
        stops = config.get("early_terminate") or engine.pruner is not None
        return search, search if stops else None
    stopper = OptunaSearch(config, OptunaEngine(), prior, sample=False) if config.get("early_terminate") else None
    return BuiltinSearch(config, prior, seed), stopper


def next_params(config: Mapping[str, Any], runs: Sequence[Run]) -> dict[str, Any] | None:
    """Next parameters from ``runs`` (the loopback's ``sweeps.next_run``; bayes: finished ones); None: grid done."""
    checked = validate_sweep_config(config)
    if checked["method"] == "bayes":
        return OptunaSearch(checked, OptunaEngine(), [r for r in runs if r[1] == "finished"]).ask()[1]
    got = BuiltinSearch(checked, list(runs)).ask()
    return None if got is None else got[1]


@dataclass
class Assignment:
    run_id: str
    params: dict[str, Any]


@dataclass
class _Trial:
    handle: Any
    stop_handle: Any = None
    state: str = "running"  # running | finished | failed | stopped
    steps: int = 0
    should_stop: bool = False


@dataclass
class OfflineController:  # up to count trials, {sweep_id}-{index:03d} from first_index, and their outcomes
    config: dict[str, Any]
    sweep_id: str
    count: int
    prior: list[Run] | None = None
    first_index: int = 0
    engine: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _trials: dict[str, _Trial] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.config = dict(self.config)
        self._next_index = self.first_index
        self._exhausted = False
        # Default samplers are seeded from the sweep id and its history: a re-run suggests the same trials.
        seed = int.from_bytes(hashlib.sha256(f"{self.sweep_id}:{self.first_index}".encode()).digest()[:4], "big")
        self._search, self._stopper = make_searches(self.config, self.engine, list(self.prior or []), seed)
        self.metric_name: str | None = (self.config.get("metric") or {}).get("name")
        self.early_terminate = self._stopper is not None

    def suggest(self, n: int = 1) -> list[Assignment]:  # up to n; fewer when the budget or a grid is used up
        out: list[Assignment] = []
        with self._lock:
            for _ in range(min(n, self.count - (self._next_index - self.first_index))):
                got = None if self._exhausted else self._search.ask()
                if got is None:  # the grid is complete
                    self._exhausted = True
                    break
                out.append(Assignment(f"{self.sweep_id}-{self._next_index:03d}", got[1]))
                self._next_index += 1
                trial = self._trials[out[-1].run_id] = _Trial(got[0])
                if self._stopper is self._search:
                    trial.stop_handle = got[0]
                elif self._stopper is not None:
                    # The stopper suggests nothing (sample=False): the ask only opens its trial.
                    trial.stop_handle = self._stopper.ask()[0]
        return out

    def next_trial(self) -> Assignment | None:
        return next(iter(self.suggest(1)), None)

    def report(self, run_id: str, state: str, summary: Mapping[str, Any]) -> None:
        with self._lock:
            if (trial := self._trials.get(run_id)) is None or trial.state != "running":
                return
            trial.state = state
            self._search.tell(trial.handle, state, summary)
            if self._stopper is not None and self._stopper is not self._search:
                self._stopper.tell(trial.stop_handle, state, summary)

    def observe(self, run_id: str, row: Mapping[str, Any]) -> bool:  # True when early termination stops the trial
        value = finite_number(row.get(self.metric_name)) if self._stopper is not None and self.metric_name else None
        if value is None:
            return False
        with self._lock:
            if (trial := self._trials.get(run_id)) is None or trial.state != "running":
                return False
            trial.steps += 1
            trial.should_stop = trial.should_stop or self._stopper.observe(trial.stop_handle, trial.steps, value)
            return trial.should_stop
