"""The built-in trial task: runs a ``@wandb_init`` objective function as one Flyte action per trial.

In Flyte local mode the action finds its launch in this process (early termination, stop commands);
in other pods it imports the objective by its module path and, offline, uploads its run directory.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import flyte

from flyteplugins.wandb_core import Wandb
from flyteplugins.wandb_core.ext import trial_scope

from ._link import WandbSweep
from ._results import TrialResult
from ._trial import LAUNCHES, Launch, TrialStopped, handle_result, load_objective, trial_overrides, watch

__all__ = ["AgentSpec", "Launch", "TrialStopped", "run_agent", "sweep_agent_env", "wandb_sweep_agent"]


@dataclass
class AgentSpec:
    """What one trial action needs, as JSON (it may run in another pod): ``agent`` is its concurrency
    slot, ``assignments`` the trials to run, each ``{"run_id": ..., "params": {...}}``."""

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

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str) -> AgentSpec:
        return cls(**json.loads(raw))


def _run_trial(
    spec: AgentSpec, objective: Callable[..., Any], launch: Launch | None, item: dict[str, Any]
) -> tuple[TrialResult, BaseException | None]:
    """Run the objective as one trial; a failing objective is recorded, and returned, not raised."""
    run_id, params = str(item["run_id"]), dict(item["params"])
    state = "finished"
    error: str | None = None
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
            state = "failed"
            error = f"{type(exc).__name__}: {exc}"
            exception = exc
    if not handle.opened and state == "finished":
        error = "the objective opened no W&B run (is it decorated with @wandb_init?)"
    summary = dict(handle.summary)
    result = handle_result(
        handle, handle.run_id or run_id, params, state, summary, spec.metric_name, error, spec.agent, start
    )
    if launch is not None:
        with launch.lock:
            launch.finished[run_id] = result
    return result, exception


def run_agent(spec: AgentSpec) -> list[TrialResult]:
    """Run the spec's trials; re-raise the last objective error once every trial has run."""
    objective = load_objective(spec.launch, spec.objective)
    launch = LAUNCHES.get(spec.launch)
    results: list[TrialResult] = []
    failure: BaseException | None = None
    for item in spec.assignments or []:
        result, exception = _run_trial(spec, objective, launch, item)
        results.append(result)
        failure = exception or failure
    if launch is None and spec.upload_runs:
        _upload_run_dirs(results)
    if failure is not None:
        raise failure
    return results


def _upload_run_dirs(results: list[TrialResult]) -> None:
    """A trial in another pod: upload its offline run directory (it would die with the pod); ``run_dir``
    then points into the uploaded ``Dir`` (``<dir uri>/offline-run-...``)."""
    import os
    import shutil
    import tempfile

    from flyte.io import Dir

    local = [r for r in results if r.run_dir and os.path.isdir(r.run_dir)]
    if not local:
        return
    staging = tempfile.mkdtemp(prefix="wandb-sweep-runs-")
    for result in local:
        shutil.copytree(str(result.run_dir), os.path.join(staging, os.path.basename(str(result.run_dir))))
    uploaded = Dir.from_local_sync(staging)
    for result in local:
        result.run_dir = f"{uploaded.path.rstrip('/')}/{os.path.basename(str(result.run_dir))}"


sweep_agent_env = flyte.TaskEnvironment(name="wandb-sweep-agent")
"""The environment of the built-in trial task. In a remote deployment, list it in your sweep task's
environment: ``flyte.TaskEnvironment(..., depends_on=[sweep_agent_env])``."""


@sweep_agent_env.task(cache="disable", links=(WandbSweep(), Wandb()))
def wandb_sweep_agent(spec: str) -> str:
    """Run one sweep trial (the spec's assignments) as this action; returns the trials as JSON."""
    results = run_agent(AgentSpec.from_json(spec))
    return json.dumps([r.to_dict() for r in results])
