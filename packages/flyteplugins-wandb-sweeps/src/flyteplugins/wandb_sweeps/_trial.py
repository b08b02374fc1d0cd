"""One trial: the objective run inside core's ``trial_scope``, and the overrides that make its run a trial.

Not ``WANDB_SWEEP_ID``/``WANDB_RUN_ID`` as ``wandb.agent`` does: local-mode Flyte runs trials
concurrently in one process, where environment variables would leak between them.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ._engine import OfflineController
from ._results import Progress, TrialResult
from ._space import finite_number


class TrialStopped(Exception):
    """Raised from ``run.log`` inside a trial that the sweep stopped (early termination)."""


@dataclass
class Launch:
    """In-process state of one ``run_sweep_agents`` call, which trial actions in the same process (Flyte
    local mode) find by the launch token of their spec: the offline controller (early termination sees
    every logged row), the stop flags the online heartbeats set, and the exact result of each trial."""

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

    def observer(self) -> Callable[[str, dict[str, Any]], bool] | None:
        """What sees a trial's logged rows: the controller, when it stops trials early."""
        controller = self.controller
        return controller.observe if controller is not None and controller.early_terminate else None

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
    overrides: dict[str, Any] = {"id": run_id, "config": dict(params)}
    if sweep.mode == "online":
        # What wandb.agent does through WANDB_SWEEP_ID, per run instead of per process.
        overrides.update(mode="online", settings={"sweep_id": sweep.sweep_id})
    else:
        # W&B has no offline sweeps: the group keeps the trials together after `wandb sync`.
        overrides.update(group=sweep.sweep_id, mode="disabled" if sweep.mode == "disabled" else "offline")
    if sweep.project:
        overrides["project"] = sweep.project
    if sweep.entity:
        overrides["entity"] = sweep.entity
    return overrides


def watch(
    handle: Any, run_id: str, stop: threading.Event, observe: Callable[[str, dict[str, Any]], bool] | None
) -> None:
    """Once the trial's run opens, wrap ``run.log``: rows reach the controller, a stop ends the trial."""

    def on_open(run: Any) -> None:
        original = run.log

        def log(data: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
            out = original(data, *args, **kwargs)
            if observe is not None and isinstance(data, dict) and observe(run_id, data):
                stop.set()
            if stop.is_set():
                raise TrialStopped(f"trial {run_id} was stopped by the sweep (early termination)")
            return out

        run.log = log

    handle.on_open = on_open


def handle_result(
    handle: Any,
    run_id: str,
    params: dict[str, Any],
    state: str,
    summary: dict[str, Any],
    metric_name: str | None,
    error: str | None,
    agent: int,
    start: float,
) -> TrialResult:
    """The result of a trial that ran in ``handle``'s ``trial_scope`` (started at monotonic ``start``)."""
    return make_result(
        run_id,
        params,
        state,
        summary,
        metric_name,
        time.monotonic() - start,
        error=error,
        agent=agent,
        run_dir=handle.run_dir if handle.offline else None,
    )


def make_result(
    run_id: str,
    params: dict[str, Any],
    state: str,
    summary: dict[str, Any],
    metric_name: str | None,
    duration_s: float = 0.0,
    **fields: Any,
) -> TrialResult:
    """A JSON-safe `TrialResult`: the same shape whether it came from this process or a pod."""
    metric = finite_number(summary.get(metric_name)) if metric_name else None
    result = TrialResult(
        run_id=run_id,
        params=dict(params),
        state=state,  # type: ignore[arg-type]
        metric=metric,
        metric_missing=bool(metric_name) and metric is None and state == "finished",
        duration_s=round(duration_s, 3),
        summary=dict(summary),
        **fields,
    )
    return TrialResult.from_dict(result.to_dict())
