"""The controller's pure parts: trial contexts, error texts, early-termination notes, summaries."""

from __future__ import annotations

import json

import pytest

from flyteplugins.wandb_core._config import RUN_ID_KEY
from flyteplugins.wandb_core._state import TRIAL_CONTEXT_KEY
from flyteplugins.wandb_sweeps._agent import Launch, trial_overrides
from flyteplugins.wandb_sweeps._config import SweepState
from flyteplugins.wandb_sweeps._launcher import Plan, _error_text, _trial_context, early_termination_note
from flyteplugins.wandb_sweeps._results import Progress, summary_from_elsewhere


def _plan(mode: str = "offline", in_process: bool = False, **config) -> Plan:
    state = SweepState(sweep_id="sw1", mode=mode, config={"method": "grid", **config}, project="p", entity="e")
    return Plan(
        state=state,
        launch=Launch(progress=Progress("sw1", 4, "loss", "minimize"), budget=4),
        token="t",
        objective=None,
        objective_is_task=False,
        agent_task=None,
        agents=2,
        total=4,
        metric_name="loss",
        goal="minimize",
        poll_interval=1.0,
        idle_timeout=5.0,
        in_process=in_process,
        upload_runs=False,
    )


def test_offline_trial_context_names_the_run_its_group_and_project():
    keys = _trial_context(_plan(), "sw1-003", {"lr": 0.1})
    assert json.loads(keys[TRIAL_CONTEXT_KEY]) == {
        "id": "sw1-003",
        "config": {"lr": 0.1},
        "group": "sw1",
        "mode": "offline",
        "project": "p",
        "entity": "e",
    }
    # What the trial action's W&B link is rendered from; it is no child of a tracked sweep task's run.
    assert keys["wandb_id"] == "sw1-003" and keys["wandb_project"] == "p" and keys["wandb_entity"] == "e"
    assert keys[RUN_ID_KEY] == ""


def test_online_trial_overrides_attach_the_run_to_the_sweep():
    sweep = SweepState(sweep_id="abc", mode="online", config={})
    overrides = trial_overrides(sweep, "r1", {})
    assert overrides == {"id": "r1", "config": {}, "mode": "online", "settings": {"sweep_id": "abc"}}


def test_error_text_uses_the_original_exception_class_of_a_failed_action():
    class RuntimeUserError(Exception):
        def __init__(self, code: str, message: str) -> None:
            super().__init__(message)
            self.code, self.message = code, message

    assert _error_text(RuntimeUserError("ValueError", "diverged")) == "ValueError: diverged"
    assert _error_text(KeyError("x")) == "KeyError: 'x'"


@pytest.mark.parametrize(
    ("mode", "in_process", "expected"),
    [
        ("offline", True, None),
        ("online", True, None),
        ("offline", False, "early_terminate is NOT applied to running trials"),
        ("online", False, "the W&B server decides which runs to stop"),
    ],
)
def test_early_termination_is_never_ignored_silently(mode, in_process, expected):
    plan = _plan(mode, in_process, early_terminate={"type": "hyperband", "min_iter": 2})
    note = early_termination_note(plan)
    assert (note is None) if expected is None else (expected in note)
    assert early_termination_note(_plan(mode, in_process)) is None  # nothing to say without it


def test_a_task_objective_returns_its_metric_or_its_summary():
    state = _plan().state
    assert summary_from_elsewhere(state, "r1", 0.5, "loss") == {"loss": 0.5}
    assert summary_from_elsewhere(state, "r1", {"loss": 1, "acc": 2}, "loss") == {"loss": 1, "acc": 2}


def test_a_task_objective_returning_nothing_is_read_from_its_offline_run(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    # No run directory: the summary is empty and the trial's metric is reported missing.
    assert summary_from_elsewhere(_plan().state, "sw1-009", None, "loss") == {}


@pytest.mark.parametrize(
    ("host", "env_url", "mode", "runs_url", "sweep_url"),
    [
        (None, None, "online", "https://wandb.ai/e/p", "https://wandb.ai/e/p/sweeps/sw1"),
        ("https://w.example", None, "offline", "https://w.example/e/p", None),
        (None, "https://self.example", "online", "https://self.example/e/p", "https://self.example/e/p/sweeps/sw1"),
    ],
)
def test_the_report_links_the_sweep_and_its_trials_on_the_sweep_s_host(
    monkeypatch, host, env_url, mode, runs_url, sweep_url
):
    import flyteplugins.wandb_core.ext as ext
    from flyteplugins.wandb_sweeps._launcher import _write_report
    from flyteplugins.wandb_sweeps._results import SweepResult

    if env_url:
        monkeypatch.setenv("WANDB_BASE_URL", env_url)
    else:
        monkeypatch.delenv("WANDB_BASE_URL", raising=False)
    written: dict = {}
    monkeypatch.setattr(ext, "report_sweep", lambda *args, **kwargs: written.update(kwargs), raising=False)
    state = SweepState(sweep_id="sw1", mode=mode, config={}, project="p", entity="e", host=host)
    _write_report(state, SweepResult(sweep_id="sw1", mode=mode, metric_name="loss", goal="minimize"))
    assert written["runs_url"] == runs_url and written["sweep_url"] == sweep_url
    assert written["maximize"] is False  # the sweep's goal, as the direction the report ranks by
