"""Talking to W&B for the sweep: the agent protocol of each online slot (register, heartbeat for
``run``/``stop``/``exit``), and trials read back from the server or offline run directories (resumed sweeps)."""

import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from flyteplugins.wandb_core.ext import read_offline_run, wandb_server

from ._agent import make_result
from ._compat import register_sweep_agent, sweep_agent_heartbeat
from ._config import Run, SweepState
from ._results import TrialResult, say

logger = logging.getLogger("flyteplugins.wandb_sweeps")

_api_lock = threading.Lock()
# While a trial runs, heartbeats only keep the agent alive and fetch stop commands.
TRIAL_HEARTBEAT_S = 2.0


def public_api(host: str | None, entity: str | None, project: str | None) -> Any:
    import wandb

    given = {"base_url": wandb_server(host).api_url, "entity": entity, "project": project}
    overrides = {k: v for k, v in given.items() if v}
    with _api_lock:  # concurrent first use of wandb.Api() races on wandb's service start
        return wandb.Api(overrides=overrides)


_agent_apis: dict[tuple[str | None, ...], Any] = {}
_agent_apis_lock = threading.Lock()


class ServerAgent:
    """A registered W&B sweep agent: heartbeats carry the server controller's commands."""

    def __init__(self, sweep_id: str, project: str | None, entity: str | None, host: str | None) -> None:
        # One wandb.Api per server and credentials (15-30 ms each); the slots share its thread-safe HTTP session.
        key = (host, entity, project, os.environ.get("WANDB_BASE_URL"), os.environ.get("WANDB_API_KEY"))
        with _agent_apis_lock:
            if key not in _agent_apis:
                _agent_apis[key] = public_api(host, entity, project)
            self.api = _agent_apis[key]
        agent = register_sweep_agent(self.api, socket.gethostname(), sweep_id=sweep_id, project=project, entity=entity)
        if not (agent and agent.get("id")):
            raise RuntimeError(f"the W&B server did not register an agent for sweep {sweep_id!r}")
        self.agent_id = str(agent["id"])
        self._lock = threading.Lock()

    def heartbeat(self, running: dict[str, bool]) -> list[dict[str, Any]]:
        with self._lock:
            return sweep_agent_heartbeat(self.api, self.agent_id, running)


class TrialHeartbeat(threading.Thread):
    """Keeps the server informed while a trial runs and relays its commands."""

    def __init__(
        self, server: Any, run_id: str, interval: float, stop: threading.Event, pending: deque[dict[str, Any]]
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


def next_command(
    server: Any, pending: deque[dict[str, Any]], poll_interval: float, idle_timeout: float, label: str
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
        if time.monotonic() - idle_since > idle_timeout:
            say(f"{label} got no trial for {idle_timeout:.0f}s; stopping.")
            return None
        time.sleep(poll_interval)


# wandb-core writes the exit record after run.finish() returned: a file changed lately gets _SETTLE_S to get it.
_SETTLE_S = 5.0
_RECENT_S = 10.0
# W&B run states that mean a trial ran to its end ("running" and "preempted" runs come back).
_TRIAL_STATES = {"finished": "finished", "failed": "failed", "crashed": "failed", "killed": "stopped"}


def wandb_dir() -> Path:
    base = Path(os.environ.get("WANDB_DIR") or os.getcwd())
    return base / "wandb" if base.name != "wandb" else base


def _run_id_of(run_dir: Path) -> str:
    # offline-run-YYYYMMDD_HHMMSS-<run id>
    return run_dir.name.split("-", 3)[-1] if run_dir.name.count("-") >= 3 else ""


def _resumed_trial(
    state: SweepState, run_id: str, config: dict[str, Any], trial_state: str, summary: dict[str, Any], **kw: Any
) -> TrialResult:
    params = {k: v for k, v in config.items() if k in (state.config.get("parameters") or {})}
    metric_name = (state.config.get("metric") or {}).get("name")
    return make_result(run_id, params, trial_state, summary, metric_name, resumed=True, **kw)


def _recent(path: Path) -> bool:
    try:
        return time.time() - path.stat().st_mtime <= _RECENT_S
    except OSError:
        return False


def _read_settled(run_dir: Path) -> tuple[int | None, dict[str, Any], dict[str, Any]] | None:
    """``(exit code, config, summary)`` of the offline run in ``run_dir`` (None when unreadable or preempted)."""
    deadline = time.monotonic() + _SETTLE_S
    while True:
        try:
            run = read_offline_run(run_dir)
        except (OSError, ValueError):
            return None
        if run.exit_code is not None or time.monotonic() >= deadline or not _recent(run.path):
            return (None if run.preempted else run.exit_code), run.config, run.summary
        time.sleep(0.05)


def prior_offline_trials(state: SweepState) -> tuple[list[Run], int, list[TrialResult]]:
    """What an offline sweep left on disk: engine seeds (ended trials, listed prior runs), the next free trial
    index, and its own ended trials. One that never ended used its index up, not its parameters."""
    prior: list[Run] = []
    next_index = 0
    trials: list[TrialResult] = []
    for run_dir in sorted(wandb_dir().glob("offline-run-*")):
        run_id = _run_id_of(run_dir)
        is_trial = run_id.startswith(f"{state.sweep_id}-")
        settled = _read_settled(run_dir) if is_trial or run_id in state.prior_runs else None
        if settled is None:
            continue
        exit_code, config, summary = settled
        suffix = run_id[len(state.sweep_id) + 1 :]
        if is_trial and suffix.isdigit():
            next_index = max(next_index, int(suffix) + 1)
        if exit_code is None:  # preempted: run it again, or a grid loses that point
            continue
        error = None if exit_code == 0 else f"exit code {exit_code}"
        trial = _resumed_trial(state, run_id, config, "failed" if error else "finished", summary, error=error)
        prior.append((trial.params, trial.state, summary))
        if is_trial:
            trial.run_dir = str(run_dir)
            trials.append(trial)
    return prior, next_index, trials


def _path(state: SweepState, name: str) -> str:
    return "/".join(p for p in (state.entity, state.project, name) if p)


def _plain_summary(run: Any) -> dict[str, Any]:
    # `summary_metrics` is the plain JSON dict; `run.summary` wraps nested values in live objects.
    value = getattr(run, "summary_metrics", None)
    return dict((json.loads(value) if isinstance(value, (str, bytes)) else value) or {})


def summary_from_elsewhere(state: SweepState, run_id: str, out: Any, metric_name: str | None) -> dict[str, Any]:
    """The summary of a trial task that ran in another pod: what it returned (a number is the metric, a dict the
    summary), else its run's, from its run directory (offline) or the W&B server."""
    if isinstance(out, (int, float)) and not isinstance(out, bool) and metric_name:
        return {metric_name: out}
    if isinstance(out, dict):
        return {str(k): v for k, v in out.items()}
    if state.mode == "online":
        with contextlib.suppress(Exception):  # the metric is then reported missing, which the progress line says
            return _plain_summary(public_api(state.host, state.entity, state.project).run(_path(state, run_id)))
        return {}
    for run_dir in sorted(wandb_dir().glob(f"offline-run-*-{run_id}"), reverse=True):
        with contextlib.suppress(OSError, ValueError):
            if _run_id_of(run_dir) == run_id:
                return dict(read_offline_run(run_dir).summary)
    return {}


def existing_online_sweep(state: SweepState) -> str | None:
    """The id of this project's unfinished sweep with the same name, if the server has one."""
    if not state.name:
        return None
    with contextlib.suppress(Exception):  # no such project yet, or a server without sweep listing: create a new sweep
        api = public_api(state.host, state.entity, state.project)
        for sweep in api.project(state.project or "uncategorized", state.entity).sweeps():
            config = sweep.config or {}
            if config.get("name") == state.name and str(sweep.state).upper() not in ("FINISHED", "CANCELED"):
                return str(sweep.id)
    return None


def finished_online_trials(state: SweepState) -> list[TrialResult]:
    # A new sweep (nothing to count), or the server cannot tell: run the full count.
    with contextlib.suppress(Exception):
        runs = public_api(state.host, state.entity, state.project).sweep(_path(state, state.sweep_id)).runs
        return [
            _resumed_trial(state, str(run.id), dict(run.config), _TRIAL_STATES[run_state], _plain_summary(run))
            for run in runs
            if (run_state := str(run.state).lower()) in _TRIAL_STATES
        ]
    return []
