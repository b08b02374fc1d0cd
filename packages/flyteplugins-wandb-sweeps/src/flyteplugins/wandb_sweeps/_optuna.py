"""Optuna behind the offline controller: each W&B parameter is a distribution over a latent value (docs/sweeps.md)."""

from __future__ import annotations

import math
import numbers
import operator
import sys
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

from flyteplugins.wandb_core import WandbConfigError

from . import _space
from ._space import DEFAULT_GOAL, GOALS, finite_number

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


def _axis(param: _space.Param) -> _Axis:
    from optuna import distributions as dists

    s, kind = param.spec, param.kind
    quant = kind.startswith("q_")

    def done(x: float) -> Any:
        return _space.quantize(x, param) if quant else x

    if kind == "constant":
        return _Axis(None, lambda _: s["value"], lambda v: v)
    if kind.startswith("categorical"):
        keys = [_space.key(v) for v in s["values"]]
        # Optuna's categorical choices must be plain scalars; the index stands in for lists and dicts.
        return _Axis(
            dists.CategoricalDistribution(list(range(len(keys)))),
            lambda i: s["values"][i],
            lambda v: keys.index(_space.key(v)),
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
class OptunaSearch:
    """An Optuna study in memory; with ``sample=False`` it suggests nothing and only prunes."""

    config: Mapping[str, Any]
    engine: OptunaEngine
    prior: Sequence[_space.Run] = ()
    sample: bool = True
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        import optuna

        self._optuna = optuna
        self.objectives = self.engine.objectives(self.config)
        self._axes = {path: _axis(p) for path, p in _space.space(self.config["parameters"])} if self.sample else {}
        self._dists = {".".join(p): a.distribution for p, a in self._axes.items() if a.distribution is not None}
        pruner = self.engine.pruner
        stop = self.config.get("early_terminate")
        if pruner is None and stop:
            # W&B's hyperband: one bracket of async successive halving; without min_iter, s bands below max_iter.
            eta = max(2, round(stop.get("eta", 3)))
            min_iter = stop.get("min_iter") or max(1, int(stop["max_iter"] / eta ** stop.get("s", 1)))
            pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=min_iter, reduction_factor=eta)
        elif pruner is None:
            pruner = optuna.pruners.NopPruner()
        sampler = self.engine.sampler
        if sampler is None and self.sample:
            from ._gp import GaussianProcessSampler

            sampler = GaussianProcessSampler(seed=self.engine.seed)
        elif sampler is None:
            sampler = optuna.samplers.RandomSampler()
        directions: list[Any] = [goal for _, goal in self.objectives]
        self.study = optuna.create_study(directions=directions, sampler=sampler, pruner=pruner)
        for params, state, summary in self.prior:
            self._add_prior(params, state, summary)

    def _values(self, summary: Mapping[str, Any]) -> list[float] | None:
        values = [finite_number(summary.get(name)) for name, _ in self.objectives]
        return [v for v in values if v is not None] if None not in values else None

    def _add_prior(self, params: Mapping[str, Any], state: str, summary: Mapping[str, Any]) -> None:
        values = self._values(summary)
        flat = _space.flatten(params, list(self._axes))
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
        return trial, _space.nest({p: a.decode(trial.params.get(".".join(p))) for p, a in self._axes.items()})

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
