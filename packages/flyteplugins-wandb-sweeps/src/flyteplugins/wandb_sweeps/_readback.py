"""Trials read back from offline run directories or the W&B server (resumed sweeps, trials in other pods)."""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

from flyteplugins.wandb_core.ext import read_offline_run

from ._agent import make_result
from ._config import SweepState
from ._results import TrialResult
from ._server import public_api
from ._space import Run

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
