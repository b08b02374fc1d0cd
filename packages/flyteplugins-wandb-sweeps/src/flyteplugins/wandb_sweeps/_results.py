"""Trial and sweep outcomes, and the progress lines printed while a sweep runs."""

import json
import sys
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

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
        best = self.best
        if best is not None:
            lines.append(f"  best: {best.run_id} {self.metric_name}={best.metric:.6g} {best.params}")
        return "\n".join(lines)


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class Progress:
    """One stderr line per finished trial, with the best value so far (thread-safe)."""

    def __init__(self, sweep_id: str, total: int, metric_name: str | None, goal: str) -> None:
        self.sweep_id, self.total, self.metric_name, self.goal = sweep_id, total, metric_name, goal
        self.done = 0
        self.best: TrialResult | None = None
        self._lock = threading.Lock()

    def resume(self, trials: list[TrialResult]) -> tuple[TrialResult | None, int]:
        """Count ended trials; returns the best so far and the count."""
        with self._lock:
            for trial in trials:
                self.done += 1
                self.best = best_of([self.best, trial], self.goal)
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
