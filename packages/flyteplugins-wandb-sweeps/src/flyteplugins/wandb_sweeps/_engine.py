"""The offline sweep controller: W&B's open-source ``sweeps`` engine driven from inside the sweep task.

W&B has no offline sweeps: its controller runs on the server. The engine the server uses for grid,
random and bayes search and hyperband early stopping is published as the ``sweeps`` package, so
the same sweep configuration can be driven here with no server at all. The controller is
thread-safe: agents running as concurrent Flyte tasks in one process call it directly.
"""

from __future__ import annotations

import copy
import json
import math
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flyteplugins.wandb_core.ext import WandbConfigError


def _engine() -> Any:
    try:
        with warnings.catch_warnings():
            # sweeps 0.3.0 still declares a pydantic-v1 style Config; harmless, but noisy on import.
            warnings.simplefilter("ignore", UserWarning)
            import sweeps
    except ImportError as exc:  # pragma: no cover - it is a hard dependency of this package
        raise ImportError(
            "Offline sweeps need W&B's sweep engine: pip install 'flyteplugins-wandb[sweeps]' "
            "(or pip install sweeps)."
        ) from exc
    return sweeps


# JSON of a config -> the config with defaults filled in. The sweep task validates its config when
# the sweep opens and again when run_sweep_agents starts (the same dict): the engine's JSON-schema
# check costs tens of ms, inside the sweep's own wall time. Only valid configs are kept.
_validated: dict[str, dict[str, Any]] = {}
_validated_lock = threading.Lock()


def validate_sweep_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Check a sweep config against the engine's schema and return it with defaults filled in."""
    try:
        key = json.dumps(config, sort_keys=True)
    except (TypeError, ValueError):  # not JSON (the check itself will say what is wrong)
        return _validate(config)
    with _validated_lock:
        known = _validated.get(key)
    if known is None:
        known = _validate(config)
        with _validated_lock:
            if len(_validated) > 64:  # a long-lived process running many different sweeps
                _validated.clear()
            _validated[key] = known
    return copy.deepcopy(known)


def _validate(config: Mapping[str, Any]) -> dict[str, Any]:
    from ._validate import validate_sweep_definition

    if not config.get("method"):
        validate_sweep_definition("the sweep definition", config, complete=True)  # names the methods
    sweeps = _engine()
    from jsonschema import ValidationError

    try:
        filled = dict(sweeps.SweepConfig(dict(config)))
    except ValidationError as exc:
        raise WandbConfigError(f"invalid sweep configuration: {exc.message}") from None
    except ValueError as exc:
        raise WandbConfigError(f"invalid sweep configuration: {exc}") from None
    method = filled.get("method")
    metric = filled.get("metric") or {}
    if method == "bayes" and not metric.get("name"):
        raise WandbConfigError(
            "method='bayes' needs a metric to optimise, e.g. metric={'name': 'loss', 'goal': 'minimize'}."
        )
    if filled.get("early_terminate") and not metric.get("name"):
        raise WandbConfigError(
            "early_terminate needs a metric, e.g. metric={'name': 'loss', 'goal': 'minimize'}."
        )
    # The merged definition (context + decorator): what no single part could show (a missing method,
    # grid over a continuous range) is refused here, before the sweep is created or an agent starts.
    validate_sweep_definition("the sweep definition", config, complete=True)
    return filled


def unwrap_params(config: Mapping[str, Any]) -> dict[str, Any]:
    """``{"lr": {"value": 0.1}}`` (engine and server format) -> ``{"lr": 0.1}``."""
    return {k: (v.get("value") if isinstance(v, Mapping) and "value" in v else v) for k, v in config.items()}


def wrap_params(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: {"value": v} for k, v in params.items()}


def finite_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass
class Assignment:
    """One trial handed to an agent."""

    index: int
    run_id: str
    params: dict[str, Any]


@dataclass
class _Trial:
    assignment: Assignment
    state: str = "running"  # running | finished | failed | stopped
    summary: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    should_stop: bool = False


class OfflineController:
    """Suggests trials with the ``sweeps`` engine and records their outcome.

    Args:
        config: The sweep configuration (validated with `validate_sweep_config()`).
        sweep_id: Used to derive trial run ids ``{sweep_id}-{index:03d}``.
        count: Number of trials to hand out in this launch.
        prior: Finished runs to seed the search with: ``(params, state, summary)`` tuples.
        first_index: Index of the first trial (after those already on disk for this sweep).
    """

    def __init__(
        self,
        config: Mapping[str, Any],
        sweep_id: str,
        count: int,
        prior: list[tuple[dict[str, Any], str, dict[str, Any]]] | None = None,
        first_index: int = 0,
    ) -> None:
        self._sweeps = _engine()
        self.config = dict(config)
        self.sweep_id = sweep_id
        self.count = count
        self._lock = threading.Lock()
        self._next_index = first_index
        self._handed_out = 0
        self._exhausted = False
        self._trials: dict[str, _Trial] = {}
        self._prior = [
            self._sweeps.SweepRun(
                name=f"prior-{i}",
                state=self._state(state),
                config=wrap_params(params),
                summary_metrics=summary,
            )
            for i, (params, state, summary) in enumerate(prior or [])
        ]
        metric = self.config.get("metric") or {}
        self.metric_name: str | None = metric.get("name")
        self.early_terminate = bool(self.config.get("early_terminate"))

    def _state(self, state: str) -> Any:
        rs = self._sweeps.RunState
        return {"finished": rs.finished, "failed": rs.failed, "stopped": rs.killed}.get(state, rs.running)

    def _engine_runs(self) -> list[Any]:
        runs = list(self._prior)
        for name, trial in self._trials.items():
            runs.append(
                self._sweeps.SweepRun(
                    name=name,
                    state=self._state(trial.state),
                    config=wrap_params(trial.assignment.params),
                    summary_metrics=self._clean(trial.summary),
                    history=trial.history,
                )
            )
        return runs

    def _clean(self, summary: Mapping[str, Any]) -> dict[str, Any]:
        # The engine only reads the sweep metric; non-finite or non-numeric values would break bayes.
        if self.metric_name is None:
            return {}
        value = finite_number(summary.get(self.metric_name))
        return {} if value is None else {self.metric_name: value}

    def suggest(self, n: int = 1) -> list[Assignment]:
        """Up to ``n`` new trials (fewer when the budget or a grid is used up)."""
        out: list[Assignment] = []
        with self._lock:
            n = min(n, self.count - self._handed_out)
            if n <= 0 or self._exhausted:
                return out
            with warnings.catch_warnings():
                # The engine's Gaussian process warns about length-scale bounds on easy objectives.
                warnings.simplefilter("ignore")
                suggestions = self._sweeps.next_runs(self.config, self._engine_runs(), validate=False, n=n)
            for suggestion in suggestions:
                if suggestion is None:  # the grid is complete
                    self._exhausted = True
                    break
                index = self._next_index
                self._next_index += 1
                self._handed_out += 1
                assignment = Assignment(
                    index, f"{self.sweep_id}-{index:03d}", unwrap_params(suggestion.config)
                )
                self._trials[assignment.run_id] = _Trial(assignment)
                out.append(assignment)
        return out

    def next_trial(self) -> Assignment | None:
        """The next trial for an idle agent, or ``None`` when the sweep is done."""
        got = self.suggest(1)
        return got[0] if got else None

    def report(self, run_id: str, state: str, summary: Mapping[str, Any]) -> None:
        with self._lock:
            trial = self._trials.get(run_id)
            if trial is None:
                return
            trial.state = state
            trial.summary = dict(summary)

    def observe(self, run_id: str, row: Mapping[str, Any]) -> bool:
        """Record a logged row of a running trial; True when early termination stops it."""
        if not self.early_terminate or self.metric_name is None or self.metric_name not in row:
            return False
        value = finite_number(row.get(self.metric_name))
        if value is None:
            return False
        with self._lock:
            trial = self._trials.get(run_id)
            if trial is None or trial.state != "running":
                return False
            trial.history.append({self.metric_name: value})
            try:
                to_stop = self._sweeps.stop_runs(self.config, self._engine_runs(), validate=False)
            except ValueError:
                return False
            for run in to_stop:
                if run.name in self._trials:
                    self._trials[run.name].should_stop = True
            return trial.should_stop
