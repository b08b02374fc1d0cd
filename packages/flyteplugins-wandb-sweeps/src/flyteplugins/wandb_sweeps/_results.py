"""Trial and sweep results, the progress lines, and a resumed sweep's ended trials (from W&B or offline runs)."""

import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from flyteplugins.wandb_core.ext import read_offline_run, wandb_server

from ._config import Run, SweepState, finite_number

TrialState = Literal["finished", "failed", "stopped"]


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)


@dataclass
class TrialResult:
    """One trial of a sweep.

    Attributes:
        run_id: The trial's W&B run id.
        params: The parameters the trial ran with.
        state: ``"finished"``, ``"failed"`` (the objective raised) or ``"stopped"`` (early termination).
        metric: The sweep metric's value (the run's summary value), or ``None`` when it reported none.
        metric_missing: The sweep has a metric but this trial did not log it.
        error: ``"ExceptionType: message"`` for a failed trial.
        agent: Index of the agent task that ran it.
        duration_s: Wall time of the trial.
        summary: The run's summary at finish (JSON-safe).
        run_dir: Local directory of an offline run (``wandb sync`` it to upload).
        resumed: The trial ended before this launch and was read back (``agent``, ``duration_s``: 0).
    """

    run_id: str
    params: dict[str, Any]
    state: TrialState = "finished"
    metric: float | None = None
    metric_missing: bool = False
    error: str | None = None
    agent: int = 0
    duration_s: float = 0.0
    summary: dict[str, Any] = field(default_factory=dict)
    run_dir: str | None = None
    resumed: bool = False

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["params"] = {k: _jsonable(v) for k, v in self.params.items()}
        out["summary"] = {k: _jsonable(v) for k, v in self.summary.items() if not k.startswith("_")}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrialResult":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def best_of(trials: Iterable[TrialResult | None], goal: str) -> TrialResult | None:
    """The finished trial with the best metric value (the first of equals); None when none has one."""
    scored = [t for t in trials if t is not None and t.state == "finished" and t.metric is not None]
    pick = max if goal == "maximize" else min
    return pick(scored, key=lambda t: float(t.metric or 0.0)) if scored else None


@dataclass
class SweepResult:
    """What `run_sweep_agents()` returns once the trials are done.

    Attributes:
        sweep_id: The sweep id (W&B's online; a local id offline, also the trials' W&B group).
        name: The sweep name.
        mode: ``"online"``, ``"offline"`` or ``"disabled"``.
        metric_name / goal: The sweep metric and its goal (``None`` when the sweep has no metric).
        trials: Every trial, in the order they finished (first the ``resumed`` ones).
        agents: Agent slots launched: ``agents``, or fewer when fewer trials were left to run.
        agent_errors: Agent tasks that failed as a whole (not trials), as ``"agent i: error"``.
        logs: The ``flyte.io.Dir`` of collected logs when ``download_logs`` was set.
    """

    sweep_id: str
    mode: str
    metric_name: str | None
    goal: str
    name: str | None = None
    trials: list[TrialResult] = field(default_factory=list)
    agents: int = 0
    agent_errors: list[str] = field(default_factory=list)
    logs: Any = None

    @property
    def best(self) -> TrialResult | None:
        """The finished trial with the best metric value, or ``None`` when no trial reported it."""
        return best_of(self.trials, self.goal)

    @property
    def failed(self) -> list[TrialResult]:
        return [t for t in self.trials if t.state == "failed"]

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in ("sweep_id", "name", "mode", "metric_name", "goal", "agents")}
        best = self.best
        out.update(trials=[t.to_dict() for t in self.trials], best=best.to_dict() if best else None)
        return {**out, "agent_errors": list(self.agent_errors)}

    def __str__(self) -> str:
        lines = [f"sweep {self.sweep_id} ({self.mode}): {len(self.trials)} trials, {len(self.failed)} failed"]
        for t in self.trials:
            value = "no metric" if t.metric is None else f"{self.metric_name}={t.metric:.6g}"
            mark = " (resumed)" if t.resumed else ""
            lines.append(f"  {t.run_id:<24} {t.state:<8} {value:<28} {t.params}{mark}")
        if (best := self.best) is not None:
            lines.append(f"  best: {best.run_id} {self.metric_name}={best.metric:.6g} {best.params}")
        return "\n".join(lines)


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class Progress:  # one stderr line per finished trial, with the best value so far (thread-safe)
    def __init__(self, sweep_id: str, total: int, metric_name: str | None, goal: str) -> None:
        self.sweep_id, self.total, self.metric_name, self.goal = sweep_id, total, metric_name, goal
        self.done = 0
        self.best: TrialResult | None = None
        self._lock = threading.Lock()

    def resume(self, trials: list[TrialResult]) -> tuple[TrialResult | None, int]:  # count ended trials
        with self._lock:
            self.done += len(trials)
            self.best = best_of([self.best, *trials], self.goal)
            return self.best, self.done

    def line(self, trial: TrialResult) -> str:
        best, done = self.resume([trial])
        if trial.state == "failed":
            outcome = f"FAILED ({trial.error})"
        elif trial.state == "stopped":
            outcome = "stopped early"
        elif self.metric_name is None:
            outcome = "finished"
        elif trial.metric is None and self.metric_name in trial.summary:
            value = trial.summary[self.metric_name]
            outcome = f"finished, {self.metric_name}={value!r} is not a finite number (not ranked)"
        elif trial.metric is None:
            # What it logged instead: a misspelt metric name is then plain from the line.
            logged = sorted(k for k in trial.summary if not k.startswith("_"))
            shown = ", ".join(map(repr, logged[:5])) + (", ..." if len(logged) > 5 else "")
            outcome = f"finished, reported no {self.metric_name!r} (it logged {shown or 'nothing'})"
        else:
            outcome = f"{self.metric_name}={trial.metric:.6g}"
        best_text = f"best {self.metric_name}={best.metric:.6g} ({best.run_id})" if best else "no best yet"
        return (
            f"wandb sweep {self.sweep_id}: trial {done}/{self.total} {trial.run_id} "
            f"[agent {trial.agent}] {outcome} in {trial.duration_s:.1f}s | {best_text}"
        )


def make_result(
    run_id: str,
    params: dict[str, Any],
    state: str,
    summary: dict[str, Any],
    metric_name: str | None,
    start: float | None = None,
    handle: Any = None,
    **fields: Any,
) -> TrialResult:  # a JSON-safe TrialResult; start: monotonic start time, handle: the trial's trial_scope
    metric = finite_number(summary.get(metric_name)) if metric_name else None
    if handle is not None and handle.offline:
        fields["run_dir"] = handle.run_dir
    result = TrialResult(
        run_id=run_id,
        params=dict(params),
        state=state,  # type: ignore[arg-type]
        metric=metric,
        metric_missing=bool(metric_name) and metric is None and state == "finished",
        duration_s=0.0 if start is None else round(time.monotonic() - start, 3),
        summary=dict(summary),
        **fields,
    )
    return TrialResult.from_dict(result.to_dict())


_api_lock = threading.Lock()


def public_api(host: str | None, entity: str | None, project: str | None) -> Any:
    import wandb

    given = {"base_url": wandb_server(host).api_url, "entity": entity, "project": project}
    overrides = {k: v for k, v in given.items() if v}
    with _api_lock:  # concurrent first use of wandb.Api() races on wandb's service start
        return wandb.Api(overrides=overrides)


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


def _read_settled(run_dir: Path) -> tuple[int | None, dict[str, Any], dict[str, Any]] | None:
    """``(exit code, config, summary)`` of the offline run in ``run_dir`` (None when unreadable or preempted)."""
    deadline = time.monotonic() + _SETTLE_S
    while True:
        try:
            run = read_offline_run(run_dir)
        except (OSError, ValueError):
            return None
        recent = False
        with contextlib.suppress(OSError):
            recent = time.time() - run.path.stat().st_mtime <= _RECENT_S
        if run.exit_code is not None or time.monotonic() >= deadline or not recent:
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
    """A trial from another pod: the summary it returned (a number: the metric), else its run's (run dir or W&B)."""
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


def existing_online_sweep(state: SweepState) -> str | None:  # this project's unfinished sweep of the same name
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
