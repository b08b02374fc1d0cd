"""The offline sweep controller: the sweep task suggests its own trials, with a choice of engine.

Engines (``run_sweep_agents(..., engine=...)``, see docs/sweeps.md): the definition's method by default
(`_builtin` grid/random, `_optuna` + `_gp` bayes), Optuna, or W&B's own (`_wandb_engine`). Thread-safe.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from flyteplugins.wandb_core import WandbConfigError

from ._space import Run, finite_number

ENGINES = ("wandb", "optuna")


def validate_sweep_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Check a complete sweep config (W&B's rules) and return it with W&B's defaults filled in."""
    from ._validate import DEFAULT_GOAL, validate_sweep_definition

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
    """``{"lr": 0.1}`` -> ``{"lr": {"value": 0.1}}``."""
    return {k: {"value": v} for k, v in params.items()}


class Search(Protocol):
    """What the controller needs from an engine (`BuiltinSearch`, `OptunaSearch`, `WandbSearch`)."""

    def ask(self) -> tuple[Any, dict[str, Any]] | None: ...  # (handle, params); None: exhausted

    def tell(self, handle: Any, state: str, summary: Mapping[str, Any]) -> None: ...

    def observe(self, handle: Any, step: int, value: float) -> bool: ...  # True: stop the trial


Prior = list[Run]


def check_engine(engine: Any) -> Any:
    """Refuse an ``engine=`` value no engine answers to, naming the allowed values."""
    from ._optuna import OptunaEngine

    if engine == "wandb":
        from ._wandb_engine import sweeps_module

        sweeps_module()  # missing: an error naming the extra, before the sweep starts
        return engine
    # Optuna is imported already when the engine is a sampler instance: no need to import it otherwise.
    optuna = sys.modules.get("optuna")
    if engine is None or engine in ENGINES or isinstance(engine, OptunaEngine):
        return engine
    if optuna is not None and isinstance(engine, optuna.samplers.BaseSampler):
        return engine
    raise WandbConfigError(
        f"run_sweep_agents: engine={engine!r} is not valid; allowed values: None (the definition's "
        "method), 'optuna', 'wandb', an OptunaEngine(...), or an optuna.samplers.BaseSampler instance."
    )


def make_searches(
    config: Mapping[str, Any], engine: Any, prior: Prior, seed: int | None = None
) -> tuple[Search, Search | None]:
    """(what suggests trials, what stops running ones); ``seed`` seeds default samplers."""
    from ._optuna import OptunaEngine, OptunaSearch

    engine = check_engine(engine)
    if engine == "wandb":
        from ._wandb_engine import WandbSearch

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
    from ._builtin import BuiltinSearch

    stopper = OptunaSearch(config, OptunaEngine(), prior, sample=False) if config.get("early_terminate") else None
    return BuiltinSearch(config, prior, seed), stopper


def next_params(config: Mapping[str, Any], runs: Sequence[Run]) -> dict[str, Any] | None:
    """The next trial's parameters from the sweep's history alone, as W&B's ``sweeps.next_run`` does.

    For the loopback W&B server of ``flyteplugins-wandb-testing`` without W&B's engine. ``runs`` are
    ``(unwrapped params, state, summary)``; bayes learns from the finished ones only. Returns None when
    a grid is used up; raises `WandbConfigError` for a config W&B would refuse.
    """
    from ._builtin import BuiltinSearch
    from ._optuna import OptunaEngine, OptunaSearch

    checked = validate_sweep_config(config)
    search: Search
    if checked["method"] == "bayes":
        search = OptunaSearch(checked, OptunaEngine(), [r for r in runs if r[1] == "finished"])
    else:
        search = BuiltinSearch(checked, list(runs))
    got = search.ask()
    return None if got is None else got[1]


@dataclass
class Assignment:
    """One trial handed to an agent."""

    index: int
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
    """Hands out up to ``count`` trials (run ids ``{sweep_id}-{index:03d}`` from ``first_index``) with the
    chosen engine, seeded with ``prior`` runs, and records their outcome."""

    config: dict[str, Any]
    sweep_id: str
    count: int
    prior: Prior | None = None
    first_index: int = 0
    engine: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _trials: dict[str, _Trial] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.config = dict(self.config)
        self._next_index = self.first_index
        self._exhausted = False
        # Suggestions are reproducible for a sweep id and its history (with one agent): the default
        # samplers are seeded from both, so a re-run of a finished sweep suggests the same trials.
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
                index = self._next_index
                self._next_index += 1
                assignment = Assignment(index, f"{self.sweep_id}-{index:03d}", got[1])
                trial = _Trial(got[0])
                if self._stopper is self._search:
                    trial.stop_handle = got[0]
                elif self._stopper is not None:
                    # The stopper suggests nothing (sample=False): the ask only opens its trial.
                    stop_trial = self._stopper.ask()
                    trial.stop_handle = stop_trial[0] if stop_trial else None
                self._trials[assignment.run_id] = trial
                out.append(assignment)
        return out

    def next_trial(self) -> Assignment | None:
        """The next trial for an idle agent, or ``None`` when the sweep is done."""
        got = self.suggest(1)
        return got[0] if got else None

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
        if self._stopper is None or self.metric_name is None or self.metric_name not in row:
            return False
        value = finite_number(row.get(self.metric_name))
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
