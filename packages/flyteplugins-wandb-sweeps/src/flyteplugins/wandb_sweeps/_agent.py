"""One trial: the objective in core's ``trial_scope``, run by the built-in trial task as a Flyte action."""

import asyncio
import inspect
import json
import os
import pkgutil
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import flyte
from flyte.io import Dir

from flyteplugins.wandb_core import Wandb
from flyteplugins.wandb_core.ext import trial_scope

from ._config import WandbSweep
from ._engine import OfflineController
from ._results import Progress, TrialResult, make_result, say


class TrialStopped(Exception):
    """Raised from ``run.log`` inside a trial that the sweep stopped (early termination)."""


@dataclass
class Launch:  # one run_sweep_agents call as trial actions in its process (local mode) find it, by their spec's token
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

    def observer(self) -> Callable[[str, dict[str, Any]], bool] | None:  # the controller, when it stops trials early
        return self.controller.observe if self.controller is not None and self.controller.early_terminate else None

    def record(self, result: TrialResult) -> None:
        with self.lock:
            self.results.append(result)
        say(self.progress.line(result))


# Objectives and launches by token: trial actions running in the launching process find them here.
OBJECTIVES: dict[str, Callable[..., Any]] = {}
LAUNCHES: dict[str, Launch] = {}


def trial_overrides(sweep: Any, run_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """The ``wandb.init`` arguments that make a run this trial; ``sweep``: a `SweepState` or an `AgentSpec`."""
    # Not WANDB_SWEEP_ID/WANDB_RUN_ID as wandb.agent does: local-mode trials share one process's environment.
    overrides: dict[str, Any] = {"id": run_id, "config": dict(params)}
    if sweep.mode == "online":
        overrides.update(mode="online", settings={"sweep_id": sweep.sweep_id})
    else:
        # W&B has no offline sweeps: the group keeps the trials together after `wandb sync`.
        overrides.update(group=sweep.sweep_id, mode="disabled" if sweep.mode == "disabled" else "offline")
    overrides.update({k: v for k, v in (("project", sweep.project), ("entity", sweep.entity)) if v})
    return overrides


def watch(
    handle: Any, run_id: str, stop: threading.Event, observe: Callable[[str, dict[str, Any]], bool] | None
) -> None:  # once the trial's run opens, wrap run.log: rows reach the controller, a stop ends the trial
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


@dataclass
class AgentSpec:  # what one trial action needs, as JSON (it may run in another pod); agent is its slot
    launch: str
    agent: int
    sweep_id: str
    mode: str
    objective: str
    project: str | None = None
    entity: str | None = None
    metric_name: str | None = None
    assignments: list[dict[str, Any]] | None = None
    # Upload offline run directories from another pod (download_logs needs them after the sweep).
    upload_runs: bool = False


def _run_trial(
    spec: AgentSpec, objective: Callable[..., Any], launch: Launch | None, item: dict[str, Any]
) -> tuple[TrialResult, BaseException | None]:
    # A failing objective is recorded, and returned, not raised.
    run_id, params = str(item["run_id"]), dict(item["params"])
    state = "finished"
    exception: BaseException | None = None
    start = time.monotonic()
    with trial_scope(**trial_overrides(spec, run_id, params)) as handle:
        stop = launch.stop_flag(run_id) if launch is not None else threading.Event()
        watch(handle, run_id, stop, launch.observer() if launch is not None else None)
        try:
            out = objective()
            if inspect.iscoroutine(out):
                asyncio.run(out)
        except TrialStopped:
            state = "stopped"
        except Exception as exc:
            state, exception = "failed", exc
    error = None if exception is None else f"{type(exception).__name__}: {exception}"
    if not handle.opened and state == "finished":
        error = "the objective opened no W&B run (is it decorated with @wandb_init?)"
    summary, metric_name = dict(handle.summary), spec.metric_name
    result = make_result(handle.run_id or run_id, params, state, summary, metric_name, start, handle, error=error)
    result.agent = spec.agent
    if launch is not None:
        with launch.lock:
            launch.finished[run_id] = result
    return result, exception


def run_agent(spec: AgentSpec) -> list[TrialResult]:  # re-raises the last objective error once every trial has run
    objective = OBJECTIVES.get(spec.launch) or pkgutil.resolve_name(spec.objective)
    launch = LAUNCHES.get(spec.launch)
    outcomes = [_run_trial(spec, objective, launch, item) for item in spec.assignments or []]
    results = [result for result, _ in outcomes]
    # A trial in another pod: its offline run directory would die with the pod. run_dir -> <Dir uri>/<name>.
    local = [r for r in results if r.run_dir and os.path.isdir(r.run_dir)]
    if local and launch is None and spec.upload_runs:
        staging = tempfile.mkdtemp(prefix="wandb-sweep-runs-")
        for result in local:
            shutil.copytree(str(result.run_dir), os.path.join(staging, os.path.basename(str(result.run_dir))))
        uploaded = Dir.from_local_sync(staging)
        for result in local:
            result.run_dir = f"{uploaded.path.rstrip('/')}/{os.path.basename(str(result.run_dir))}"
    if failures := [exc for _, exc in outcomes if exc is not None]:
        raise failures[-1]
    return results


sweep_agent_env = flyte.TaskEnvironment(name="wandb-sweep-agent")
"""The environment of the built-in trial task. In a remote deployment, list it in your sweep task's
environment: ``flyte.TaskEnvironment(..., depends_on=[sweep_agent_env])``."""


@sweep_agent_env.task(cache="disable", links=(WandbSweep(), Wandb()))
def wandb_sweep_agent(spec: str) -> str:
    """Run one sweep trial (the spec's assignments) as this action; returns the trials as JSON."""
    results = run_agent(AgentSpec(**json.loads(spec)))
    return json.dumps([r.to_dict() for r in results])
