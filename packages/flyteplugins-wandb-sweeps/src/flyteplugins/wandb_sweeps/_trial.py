"""One trial: the objective run inside core's ``trial_scope``, and the overrides that make its run a trial.

Trials are opened through ``trial_scope`` (in-process) or the trial context key (another pod) rather
than environment variables: local-mode Flyte runs trials concurrently in one process, where
``WANDB_SWEEP_ID``/``WANDB_RUN_ID`` (what ``wandb.agent`` uses) would leak between them.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from flyteplugins.wandb_core.ext import trial_scope

from ._engine import OfflineController, finite_number
from ._results import Progress, TrialResult


class TrialStopped(Exception):
    """Raised from ``run.log`` inside a trial that the sweep stopped (early termination)."""


@dataclass
class Launch:
    """In-process state of one ``run_sweep_agents`` call, shared with trials in the same process.

    Flyte local mode runs trial actions in the sweep task's process: they find this object by the
    launch token of their spec, and with it the offline controller (early termination sees every
    logged row), the stop flags the online heartbeats set, and the exact result of each trial.
    """

    progress: Progress
    budget: int
    controller: OfflineController | None = None
    results: list[TrialResult] = field(default_factory=list)
    stops: dict[str, threading.Event] = field(default_factory=dict)
    # run id -> the trial's result as the trial action recorded it (read when the action failed).
    finished: dict[str, TrialResult] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def release(self) -> None:
        with self.lock:
            self.budget += 1

    def claim(self) -> bool:
        with self.lock:
            if self.budget <= 0:
                return False
            self.budget -= 1
            return True

    def stop_flag(self, run_id: str) -> threading.Event:
        with self.lock:
            return self.stops.setdefault(run_id, threading.Event())

    def record(self, result: TrialResult) -> None:
        with self.lock:
            self.results.append(result)
        self.progress.report(result)


# Objectives and launches by token: trial actions running in the launching process find them here.
_OBJECTIVES: dict[str, Callable[..., Any]] = {}
LAUNCHES: dict[str, Launch] = {}


def objective_path(objective: Callable[..., Any]) -> str:
    return f"{objective.__module__}:{objective.__qualname__}"


def register_objective(token: str, objective: Callable[..., Any]) -> None:
    _OBJECTIVES[token] = objective


def unregister(token: str) -> None:
    _OBJECTIVES.pop(token, None)
    LAUNCHES.pop(token, None)


def load_objective(token: str, path: str) -> Callable[..., Any]:
    found = _OBJECTIVES.get(token)
    if found is not None:
        return found
    module_name, _, qualname = path.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj  # type: ignore[no-any-return]


class SweepPlace(Protocol):
    """Where a sweep's trials go: the sweep task's `SweepState` and a trial action's `AgentSpec` both say."""

    @property
    def mode(self) -> str: ...
    @property
    def sweep_id(self) -> str: ...
    @property
    def project(self) -> str | None: ...
    @property
    def entity(self) -> str | None: ...


def trial_overrides(sweep: SweepPlace, run_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """The ``wandb.init`` arguments that make a run this trial (core's resolver applies them)."""
    mode, sweep_id, project, entity = sweep.mode, sweep.sweep_id, sweep.project, sweep.entity
    overrides: dict[str, Any] = {"id": run_id, "config": dict(params)}
    if mode == "online":
        overrides["mode"] = "online"
        # What wandb.agent does through WANDB_SWEEP_ID, per run instead of per process.
        overrides["settings"] = {"sweep_id": sweep_id}
    else:
        # W&B has no offline sweeps: the group keeps the trials together after `wandb sync`.
        overrides["group"] = sweep_id
        overrides["mode"] = "disabled" if mode == "disabled" else "offline"
    if project:
        overrides["project"] = project
    if entity:
        overrides["entity"] = entity
    return overrides


def _watch(
    run: Any, run_id: str, stop: threading.Event, observe: Callable[[str, dict[str, Any]], bool] | None
) -> None:
    """Wrap ``run.log`` so logged rows reach the controller and a stop request ends the trial."""
    original = run.log

    def log(data: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        out = original(data, *args, **kwargs)
        if observe is not None and isinstance(data, dict) and observe(run_id, data):
            stop.set()
        if stop.is_set():
            raise TrialStopped(f"trial {run_id} was stopped by the sweep (early termination)")
        return out

    run.log = log


@dataclass
class TrialOutcome:
    """A finished trial: its result, the raw summary, and the objective's exception (if it raised)."""

    result: TrialResult
    summary: dict[str, Any]
    exception: BaseException | None = None


def run_trial(
    objective: Callable[..., Any],
    *,
    agent: int,
    run_id: str,
    params: dict[str, Any],
    overrides: dict[str, Any],
    metric_name: str | None,
    stop: threading.Event | None = None,
    observe: Callable[[str, dict[str, Any]], bool] | None = None,
) -> TrialOutcome:
    """Run a ``@wandb_init`` function as one trial; a failing objective is recorded, not raised."""
    stop = stop or threading.Event()
    state = "finished"
    error: str | None = None
    exception: BaseException | None = None
    start = time.monotonic()
    with trial_scope(**overrides) as handle:
        handle.on_open = lambda run: _watch(run, run_id, stop, observe)
        try:
            out = objective()
            if inspect.iscoroutine(out):
                asyncio.run(out)
        except TrialStopped:
            state = "stopped"
        except Exception as exc:
            state = "failed"
            error = f"{type(exc).__name__}: {exc}"
            exception = exc
    summary = dict(handle.summary)
    result = make_result(
        run_id=handle.run_id or run_id,
        params=params,
        state=state,
        summary=summary,
        metric_name=metric_name,
        error=error,
        agent=agent,
        duration_s=time.monotonic() - start,
        run_dir=handle.run_dir if handle.offline else None,
    )
    if not handle.opened and state == "finished":
        result.error = "the objective opened no W&B run (is it decorated with @wandb_init?)"
    return TrialOutcome(result, summary, exception)


def make_result(
    *,
    run_id: str,
    params: dict[str, Any],
    state: str,
    summary: dict[str, Any],
    metric_name: str | None,
    error: str | None,
    agent: int,
    duration_s: float,
    run_dir: str | None = None,
) -> TrialResult:
    """A JSON-safe `TrialResult`: the same shape whether it came from this process or a pod."""
    metric = finite_number(summary.get(metric_name)) if metric_name else None
    result = TrialResult(
        run_id=run_id,
        params=dict(params),
        state=state,  # type: ignore[arg-type]
        metric=metric,
        metric_missing=bool(metric_name) and metric is None and state == "finished",
        error=error,
        agent=agent,
        duration_s=round(duration_s, 3),
        summary=dict(summary),
        run_dir=run_dir,
    )
    return TrialResult.from_dict(result.to_dict())
