"""The offline sweep controller and its engines: builtin grid/random, Optuna (bayes), W&B's own (docs/sweeps.md)."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import random
import sys
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flyteplugins.wandb_core import WandbConfigError

from . import _space
from ._optuna import OptunaEngine, OptunaSearch
from ._space import DEFAULT_GOAL, Run, finite_number, validate_sweep_definition

ENGINES = ("wandb", "optuna")
EXTRA = "flyteplugins-wandb[sweeps-wandb-engine]"


def validate_sweep_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Check a complete sweep config (W&B's rules) and return it with W&B's defaults filled in."""
    if config.get("early_terminate") and not (config.get("metric") or {}).get("name"):
        raise WandbConfigError("early_terminate needs a metric, e.g. metric={'name': 'loss', 'goal': 'minimize'}.")
    validate_sweep_definition("the sweep definition", config, complete=True)
    filled = copy.deepcopy(dict(config))
    if filled.get("metric"):
        filled["metric"].setdefault("goal", DEFAULT_GOAL)
    if filled.get("early_terminate"):
        filled["early_terminate"].setdefault("eta", 3)
    return filled


def unwrap_params(config: Mapping[str, Any]) -> dict[str, Any]:
    """``{"lr": {"value": 0.1}}`` (engine and server format) -> ``{"lr": 0.1}``."""
    return {k: (v.get("value") if isinstance(v, Mapping) and "value" in v else v) for k, v in config.items()}


def wrap_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of `unwrap_params` (the loopback server's controller calls both)."""
    return {k: {"value": v} for k, v in params.items()}


class BuiltinSearch:
    """W&B's ``grid`` (each combination once, skipping any a prior launch ran) and ``random``. Every search has
    ``ask() -> (handle, params) | None`` and ``tell(handle, state, summary)``; a stopper also ``observe(...)``."""

    def __init__(self, config: Mapping[str, Any], prior: Sequence[Run] = (), seed: int | None = None) -> None:
        self._params = _space.space(config["parameters"])
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._grid: Iterator[dict[tuple[str, ...], Any]] | None = None
        self._seen: set[str] = set()
        if config["method"] == "grid":
            self._grid = _space.grid(self._params)
            for params, _state, _summary in prior:
                flat = _space.flatten(params, [p for p, _ in self._params])
                if flat is not None:
                    self._seen.add(_space.key(list(flat.values())))

    def ask(self) -> tuple[None, dict[str, Any]] | None:
        with self._lock:
            if self._grid is None:
                return None, _space.nest({p: _space.sample(param, self._rng) for p, param in self._params})
            for combo in self._grid:
                k = _space.key(list(combo.values()))
                if k not in self._seen:
                    self._seen.add(k)
                    return None, _space.nest(combo)
            return None

    def tell(self, handle: Any, state: str, summary: Mapping[str, Any]) -> None:
        pass  # grid and random do not learn from outcomes


def sweeps_module() -> Any:
    """W&B's ``sweeps`` package (``engine="wandb"``, an extra: it pins numpy<2), or an error naming the extra."""
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


class WandbSearch:
    """Asks ``sweeps.next_runs`` / ``sweeps.stop_runs`` with every run so far, as the server does."""

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
        self._runs: dict[str, dict[str, Any]] = {}
        for i, (params, state, summary) in enumerate(prior):
            self._runs[f"prior-{i}"] = {"params": params, "state": state, "summary": summary, "history": []}

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
    """The next trial's parameters from the sweep's history alone (``sweeps.next_run`` for the loopback server);
    None when a grid is used up. Bayes learns from the finished ``runs`` only."""
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
class OfflineController:
    """Hands out up to ``count`` trials (``{sweep_id}-{index:03d}`` from ``first_index``) and records their outcome."""

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

    def suggest(self, n: int = 1) -> list[Assignment]:
        """Up to ``n`` new trials (fewer when the budget or a grid is used up)."""
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
            trial = self._trials.get(run_id)
            if trial is None or trial.state != "running":
                return
            trial.state = state
            self._search.tell(trial.handle, state, summary)
            if self._stopper is not None and self._stopper is not self._search:
                self._stopper.tell(trial.stop_handle, state, summary)

    def observe(self, run_id: str, row: Mapping[str, Any]) -> bool:
        """Record a logged row of a running trial; True when early termination stops it."""
        value = finite_number(row.get(self.metric_name)) if self._stopper is not None and self.metric_name else None
        if value is None:
            return False
        with self._lock:
            trial = self._trials.get(run_id)
            if trial is None or trial.state != "running":
                return False
            trial.steps += 1
            if not trial.should_stop:
                trial.should_stop = self._stopper.observe(trial.stop_handle, trial.steps, value)
            return trial.should_stop
