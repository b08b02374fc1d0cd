"""Sweep agents: the Flyte task that runs trials, online (server controller) or offline (local engine).

One agent task runs trials one after another until its sweep has no more work for it. Trials are
opened through core's ``trial_scope`` rather than environment variables: local-mode Flyte runs the
agents concurrently in one process, where ``WANDB_SWEEP_ID``/``WANDB_RUN_ID`` (what ``wandb.agent``
uses) would leak between agents.

Online, the agent speaks the W&B agent protocol itself (register, then heartbeats that carry the
server's ``run``/``stop``/``exit`` commands), asks for the next trial as soon as one finishes
instead of sleeping a fixed 5 s like ``wandb.agent``, and attaches each trial run to the sweep with
the ``sweep_id`` setting. Offline, the agent pulls trials from the controller of the launching
sweep task when it runs in the same process (Flyte local mode), or runs a list of trials assigned
up front when it runs elsewhere.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import logging
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import flyte

from flyteplugins.wandb_core._state import trial_scope

from ._engine import OfflineController, finite_number, unwrap_params
from ._link import WandbSweep
from ._results import Progress, TrialResult

logger = logging.getLogger("flyteplugins.wandb_sweeps")


class TrialStopped(Exception):
    """Raised from ``run.log`` inside a trial that the sweep stopped (early termination)."""


@dataclass
class AgentSpec:
    """Everything an agent task needs, as JSON (agents may run in another process or pod)."""

    launch: str
    agent: int
    sweep_id: str
    mode: str
    objective: str
    project: str | None = None
    entity: str | None = None
    host: str | None = None
    metric_name: str | None = None
    goal: str = "minimize"
    quota: int = 1
    total: int = 1
    poll_interval: float = 2.0
    idle_timeout: float = 600.0
    assignments: list[dict[str, Any]] | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str) -> AgentSpec:
        return cls(**json.loads(raw))


@dataclass
class Launch:
    """In-process state of one ``run_sweep_agents`` call, shared with agents in the same process."""

    progress: Progress
    budget: int
    controller: OfflineController | None = None
    results: list[TrialResult] = field(default_factory=list)
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

    def record(self, result: TrialResult) -> None:
        with self.lock:
            self.results.append(result)
        self.progress.report(result)


# Objectives and launches by token: agents running in the launching process find them here.
_OBJECTIVES: dict[str, Callable[..., Any]] = {}
LAUNCHES: dict[str, Launch] = {}


def objective_path(objective: Callable[..., Any]) -> str:
    return f"{objective.__module__}:{objective.__qualname__}"


def register_objective(token: str, objective: Callable[..., Any]) -> None:
    _OBJECTIVES[token] = objective


def unregister(token: str) -> None:
    _OBJECTIVES.pop(token, None)
    LAUNCHES.pop(token, None)


def _load_objective(spec: AgentSpec) -> Callable[..., Any]:
    found = _OBJECTIVES.get(spec.launch)
    if found is not None:
        return found
    module_name, _, qualname = spec.objective.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------------------------
# One trial
# ---------------------------------------------------------------------------------------------


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
) -> tuple[TrialResult, dict[str, Any]]:
    """Run the objective as one trial; never raises for a failing objective. Returns (result, raw summary)."""
    stop = stop or threading.Event()
    state = "finished"
    error: str | None = None
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
    summary = dict(handle.summary)
    metric = finite_number(summary.get(metric_name)) if metric_name else None
    result = TrialResult(
        run_id=handle.run_id or run_id,
        params=dict(params),
        state=state,  # type: ignore[arg-type]
        metric=metric,
        metric_missing=bool(metric_name) and metric is None and state == "finished",
        error=error,
        agent=agent,
        duration_s=round(time.monotonic() - start, 3),
        summary=summary,
        run_dir=handle.run_dir if handle.offline else None,
    )
    if not handle.opened and state == "finished":
        result.error = "the objective opened no W&B run (is it decorated with @wandb_init?)"
    # The same JSON-safe shape as results that come back from agents in other processes.
    return TrialResult.from_dict(result.to_dict()), summary


def _offline_overrides(spec: AgentSpec, run_id: str, params: dict[str, Any]) -> dict[str, Any]:
    overrides: dict[str, Any] = {
        "id": run_id,
        "config": dict(params),
        # W&B has no offline sweeps: the group keeps the trials together after `wandb sync`.
        "group": spec.sweep_id,
        "mode": "disabled" if spec.mode == "disabled" else "offline",
    }
    if spec.project:
        overrides["project"] = spec.project
    if spec.entity:
        overrides["entity"] = spec.entity
    return overrides


def _online_overrides(spec: AgentSpec, run_id: str, params: dict[str, Any]) -> dict[str, Any]:
    overrides: dict[str, Any] = {
        "id": run_id,
        "config": dict(params),
        "mode": "online",
        # What wandb.agent does through WANDB_SWEEP_ID, per run instead of per process.
        "settings": {"sweep_id": spec.sweep_id},
    }
    if spec.project:
        overrides["project"] = spec.project
    if spec.entity:
        overrides["entity"] = spec.entity
    return overrides


# ---------------------------------------------------------------------------------------------
# Offline agent
# ---------------------------------------------------------------------------------------------


def _offline_agent(
    spec: AgentSpec, objective: Callable[..., Any], launch: Launch | None
) -> list[TrialResult]:
    results: list[TrialResult] = []
    controller = launch.controller if launch is not None else None
    progress = (
        launch.progress
        if launch is not None
        else Progress(spec.sweep_id, spec.total, spec.metric_name, spec.goal)
    )

    def assignments() -> Any:
        if controller is not None:
            while (a := controller.next_trial()) is not None:
                yield a.run_id, a.params
        else:
            for item in spec.assignments or []:
                yield item["run_id"], item["params"]

    for run_id, params in assignments():
        result, summary = run_trial(
            objective,
            agent=spec.agent,
            run_id=run_id,
            params=params,
            overrides=_offline_overrides(spec, run_id, params),
            metric_name=spec.metric_name,
            observe=controller.observe if controller is not None and controller.early_terminate else None,
        )
        if controller is not None:
            controller.report(run_id, result.state, summary)
        if launch is not None:
            launch.record(result)
        else:
            progress.report(result)
        results.append(result)
    return results


# ---------------------------------------------------------------------------------------------
# Online agent
# ---------------------------------------------------------------------------------------------

_api_lock = threading.Lock()
# While a trial runs, heartbeats only keep the agent alive and fetch stop commands.
TRIAL_HEARTBEAT_S = 2.0


class ServerAgent:
    """A registered W&B sweep agent: heartbeats carry the server controller's commands."""

    def __init__(self, spec: AgentSpec) -> None:
        import wandb

        from flyteplugins.wandb_core._resolve import api_base_url

        overrides: dict[str, Any] = {}
        base_url = api_base_url(spec.host)
        if base_url:
            overrides["base_url"] = base_url
        if spec.entity:
            overrides["entity"] = spec.entity
        if spec.project:
            overrides["project"] = spec.project
        with _api_lock:  # concurrent first use of wandb.Api() races on wandb's service start
            self.api = wandb.Api(overrides=overrides)
        self.spec = spec
        self.agent_id = self._register()
        self._lock = threading.Lock()

    def _register(self) -> str:
        try:
            from wandb.apis.public.sweeps import _register_agent
        except ImportError:  # older wandb: the same mutation lives on the internal API
            from wandb.apis import InternalApi

            agent = InternalApi().register_agent(
                socket.gethostname(),
                sweep_id=self.spec.sweep_id,
                project_name=self.spec.project,
                entity=self.spec.entity,
            )
        else:
            agent = _register_agent(
                self.api,
                socket.gethostname(),
                sweep_id=self.spec.sweep_id,
                project=self.spec.project,
                entity=self.spec.entity,
            )
        agent_id = agent.get("id") if agent else None
        if not agent_id:
            raise RuntimeError(f"the W&B server did not register an agent for sweep {self.spec.sweep_id!r}")
        return str(agent_id)

    def heartbeat(self, running: dict[str, bool]) -> list[dict[str, Any]]:
        with self._lock:
            try:
                from wandb.apis.public.sweeps import _agent_heartbeat
            except ImportError:
                from wandb.apis import InternalApi

                commands = InternalApi().agent_heartbeat(self.agent_id, {}, running)
            else:
                commands = _agent_heartbeat(self.api, self.agent_id, {}, running)
        return list(commands or [])


class _TrialHeartbeat(threading.Thread):
    """Keeps the server informed while a trial runs and relays its commands."""

    def __init__(
        self,
        server: ServerAgent,
        run_id: str,
        interval: float,
        stop: threading.Event,
        pending: deque[dict[str, Any]],
    ) -> None:
        super().__init__(name=f"wandb-sweep-heartbeat-{run_id}", daemon=True)
        self.server, self.run_id, self.interval = server, run_id, interval
        self.stop_trial, self.pending = stop, pending
        self.done = threading.Event()
        self.exit_requested = False

    def run(self) -> None:
        while not self.done.wait(self.interval):
            try:
                commands = self.server.heartbeat({self.run_id: True})
            except Exception as exc:  # a missed heartbeat must not kill the trial
                logger.warning("sweep heartbeat failed: %s", exc)
                continue
            for command in commands[:1]:
                kind = command.get("type")
                if kind == "stop" and command.get("run_id") == self.run_id:
                    self.stop_trial.set()
                elif kind == "exit":
                    self.exit_requested = True
                elif kind in ("run", "resume"):
                    self.pending.append(command)


def _next_command(
    server: ServerAgent, spec: AgentSpec, pending: deque[dict[str, Any]]
) -> dict[str, Any] | None:
    """Heartbeat until the server hands out a trial; ``None`` on ``exit`` or after ``idle_timeout``."""
    idle_since = time.monotonic()
    while True:
        if not pending:
            # Only commands[0] is meant to be read (as wandb.agent does).
            pending.extend(server.heartbeat({})[:1])
        if pending:
            command = pending.popleft()
            kind = command.get("type")
            if kind == "exit":
                return None
            if kind in ("run", "resume") and command.get("run_id"):
                return command
            continue  # a stop for a trial that is not running here
        if time.monotonic() - idle_since > spec.idle_timeout:
            print(
                f"wandb sweep {spec.sweep_id}: agent {spec.agent} got no trial for {spec.idle_timeout:.0f}s; "
                "stopping.",
                file=sys.stderr,
                flush=True,
            )
            return None
        time.sleep(spec.poll_interval)


def _online_agent(spec: AgentSpec, objective: Callable[..., Any], launch: Launch | None) -> list[TrialResult]:
    server = ServerAgent(spec)
    progress = (
        launch.progress
        if launch is not None
        else Progress(spec.sweep_id, spec.total, spec.metric_name, spec.goal)
    )
    results: list[TrialResult] = []
    pending: deque[dict[str, Any]] = deque()
    left = spec.quota

    def claim() -> bool:
        nonlocal left
        if launch is not None:
            return launch.claim()
        if left <= 0:
            return False
        left -= 1
        return True

    def release() -> None:
        nonlocal left
        if launch is not None:
            launch.release()
        else:
            left += 1

    # A trial is claimed from the budget *before* asking the server for one: a run command the
    # server hands out is then always run (the server does not re-issue lost commands).
    while claim():
        command = _next_command(server, spec, pending)
        if command is None:
            release()
            break
        run_id = str(command["run_id"])
        params = unwrap_params(command.get("args") or {})
        stop = threading.Event()
        beat = _TrialHeartbeat(server, run_id, max(spec.poll_interval, TRIAL_HEARTBEAT_S), stop, pending)
        beat.start()
        try:
            result, _summary = run_trial(
                objective,
                agent=spec.agent,
                run_id=run_id,
                params=params,
                overrides=_online_overrides(spec, run_id, params),
                metric_name=spec.metric_name,
                stop=stop,
            )
        finally:
            beat.done.set()
            beat.join()
        if launch is not None:
            launch.record(result)
        else:
            progress.report(result)
        results.append(result)
        if beat.exit_requested:
            break
    return results


def run_agent(spec: AgentSpec) -> list[TrialResult]:
    objective = _load_objective(spec)
    launch = LAUNCHES.get(spec.launch)
    if spec.mode == "online":
        return _online_agent(spec, objective, launch)
    results = _offline_agent(spec, objective, launch)
    if launch is None:
        _upload_run_dirs(results)
    return results


def _upload_run_dirs(results: list[TrialResult]) -> None:
    """Offline trials run in another pod: their run directories would die with it, so upload them.

    Each trial's ``run_dir`` then points into the uploaded ``Dir`` (``<dir uri>/offline-run-...``).
    """
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
"""The environment of the agent task. In a remote deployment, list it in your sweep task's
environment: ``flyte.TaskEnvironment(..., depends_on=[sweep_agent_env])``."""


@sweep_agent_env.task(cache="disable", links=(WandbSweep(),))
def wandb_sweep_agent(spec: str) -> str:
    """Run sweep trials until the sweep has no more work for this agent; returns the trials as JSON."""
    results = run_agent(AgentSpec.from_json(spec))
    return json.dumps([r.to_dict() for r in results])
