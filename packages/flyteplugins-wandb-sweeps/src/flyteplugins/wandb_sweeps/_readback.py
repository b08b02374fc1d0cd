"""Trials read back from where they ran: offline run directories on disk, or the W&B server.

Used to resume a sweep (a retried or re-run sweep task repeats none of its finished trials) and to
find the summary of a trial task that ran in another pod and returned no metric.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flyteplugins.wandb_core.ext import read_offline_run

from ._state import SweepState

Prior = tuple[dict[str, Any], str, dict[str, Any]]


def wandb_dir() -> Path:
    base = Path(os.environ.get("WANDB_DIR") or os.getcwd())
    return base / "wandb" if base.name != "wandb" else base


def _run_id_of(run_dir: Path) -> str:
    # offline-run-YYYYMMDD_HHMMSS-<run id>
    return run_dir.name.split("-", 3)[-1] if run_dir.name.count("-") >= 3 else ""


def prior_offline_trials(state: SweepState) -> tuple[list[Prior], int, int]:
    """This sweep's trials (and listed prior runs) on disk: (finished ones, next free index, how many
    of the sweep's own trials finished). A trial that never ended (its task was killed) is not
    finished: its index is used up, its parameters are free to be suggested again."""
    root = wandb_dir()
    if not root.is_dir():
        return [], 0, 0
    wanted_prior = set(state.prior_runs)
    names = set((state.config.get("parameters") or {}).keys())
    prior: list[Prior] = []
    next_index = 0
    own_done = 0
    for run_dir in sorted(root.glob("offline-run-*")):
        run_id = _run_id_of(run_dir)
        is_trial = run_id.startswith(f"{state.sweep_id}-")
        if not is_trial and run_id not in wanted_prior:
            continue
        try:
            run = read_offline_run(run_dir)
        except (OSError, ValueError):
            continue
        if is_trial:
            suffix = run_id[len(state.sweep_id) + 1 :]
            if suffix.isdigit():
                next_index = max(next_index, int(suffix) + 1)
        if run.exit_code is None:
            continue
        own_done += 1 if is_trial else 0
        trial_state = "finished" if run.exit_code == 0 else "failed"
        prior.append(({k: v for k, v in run.config.items() if k in names}, trial_state, run.summary))
    return prior, next_index, own_done


def _offline_summary(run_id: str) -> dict[str, Any]:
    root = wandb_dir()
    for run_dir in sorted(root.glob(f"offline-run-*-{run_id}"), reverse=True):
        if _run_id_of(run_dir) != run_id:
            continue
        try:
            return dict(read_offline_run(run_dir).summary)
        except (OSError, ValueError):
            continue
    return {}


def _online_summary(state: SweepState, run_id: str) -> dict[str, Any]:
    from ._server import public_api

    try:
        api = public_api(state.host, state.entity, state.project)
        path = "/".join(p for p in (state.entity, state.project, run_id) if p)
        return dict(api.run(path).summary)
    except Exception:  # the metric is then reported missing, which the progress line says
        return {}


def summary_from_elsewhere(
    state: SweepState, run_id: str, out: Any, metric_name: str | None
) -> dict[str, Any]:
    """The summary of a trial task whose run this process did not see (it ran in another pod).

    What the task returned wins (a number is the metric, a dict the summary values); else the run
    itself: offline from its run directory (a shared volume), online from the W&B server.
    """
    if isinstance(out, bool):
        out = None
    if isinstance(out, (int, float)) and metric_name:
        return {metric_name: out}
    if isinstance(out, dict):
        return {str(k): v for k, v in out.items()}
    if state.mode == "online":
        return _online_summary(state, run_id)
    return _offline_summary(run_id)


# Run states that mean a trial ran to its end (W&B's; "running" and "preempted" ones come back).
_ENDED = ("finished", "failed", "crashed", "killed")


def existing_online_sweep(state: SweepState) -> str | None:
    """The id of this project's unfinished sweep with the same name, if the server has one."""
    if not state.name:
        return None
    from ._server import public_api

    try:
        api = public_api(state.host, state.entity, state.project)
        project = api.project(state.project or "uncategorized", state.entity)
        for sweep in project.sweeps():
            config = sweep.config or {}
            if config.get("name") == state.name and str(sweep.state).upper() not in ("FINISHED", "CANCELED"):
                return str(sweep.id)
    except Exception:  # no such project yet, or a server without sweep listing: create a new sweep
        return None
    return None


def finished_online_trials(state: SweepState) -> int:
    """How many runs of the sweep already ended on the server (a resumed sweep runs only the rest)."""
    from ._server import public_api

    try:
        api = public_api(state.host, state.entity, state.project)
        path = "/".join(p for p in (state.entity, state.project, state.sweep_id) if p)
        return sum(1 for run in api.sweep(path).runs if str(run.state).lower() in _ENDED)
    except Exception:  # a new sweep (nothing to count), or the server cannot tell: run the full count
        return 0
