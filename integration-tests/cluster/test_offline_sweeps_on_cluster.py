"""Offline sweeps on the pod simulator: the sweep task's pod is the controller, every trial a pod.

Remote mode (``TaskContext.mode == "remote"``): trials cannot call back into the sweep task, so
each slot waits for its trial action's output and only then asks the engine for the next
suggestion. All pods share one disk (``WANDB_DIR``), as pods sharing a volume do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cluster_pod
import pytest

pytest.importorskip("flyteplugins.wandb_sweeps", reason="flyteplugins-wandb-sweeps is not installed")
pytest.importorskip("numpy", reason="bayes search needs numpy")

import cluster_offline_sweep_tasks as cs

from flyteplugins.wandb.testing import read_offline_runs

# A pod start is a Python process importing flyte and wandb: seconds each, 15 of them for bayes.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]


def _run(task: Any, run_name: str, root: Path, base: str = "run", **env: str) -> cluster_pod.RunResult:
    with cluster_pod.isolated_env(root, **env):
        return cluster_pod.run_root(task, run_name=run_name, base_dir=root / base, timeout=900)


def _trial_pods(result: cluster_pod.RunResult) -> list[dict[str, Any]]:
    return [p for p in result.pods() if p["action"] != "a0"]


def _trial_dirs(result: cluster_pod.RunResult) -> list[Path]:
    return [p for p in result.root.out_dir.parent.rglob("pod.json") if p.parent.name != "a0"]


def _action_failed(out_dir: Path) -> bool:
    from flyte._internal.runtime import io

    return Path(io.error_path(str(out_dir))).exists()


def _sweep(root: Path, name: str) -> dict[str, Any]:
    return json.loads((root / f"sweep-{name}.json").read_text())


def test_grid_2x2_with_4_agents_is_4_trial_actions_and_4_offline_runs(tmp_path: Path) -> None:
    result = _run(cs.grid_sweep, "grid-pods", tmp_path)
    assert result.error is None, result.error
    pods = _trial_pods(result)
    assert len(pods) == 4 and all(p["returncode"] == 0 for p in pods)
    runs = [r for r in read_offline_runs(tmp_path / "wandb") if r.group == result.value]
    assert sorted((r.config["a"], r.config["b"]) for r in runs) == [(1, "x"), (1, "y"), (2, "x"), (2, "y")]
    assert all(r.exit_code == 0 and r.project == "cluster-sweeps" for r in runs)
    sweep = _sweep(tmp_path / "run", "grid")
    # Each trial ran in a pod of its own, none in the sweep task's pod.
    pids = {r.summary["pid"] for r in runs}
    assert len(pids) == 4 and sweep["sweep_pid"] not in pids
    assert sweep["best"]["params"] == {"a": 2, "b": "y"} and sweep["best"]["metric"] == 21
    assert sorted(t["run_id"] for t in sweep["trials"]) == sorted(r.id for r in runs)
    # Each trial action carries the link to its own run.
    links = sorted(link[1] for p in pods for link in p["links"] if link[0] == "Weights & Biases")
    assert links == sorted(f"https://wandb.ai/it/cluster-sweeps/runs/{r.id}" for r in runs)


@pytest.mark.slow
def test_bayes_on_a_quadratic_with_3_agents_beats_its_first_random_trials(tmp_path: Path) -> None:
    result = _run(cs.bayes_sweep, "bayes-pods", tmp_path)
    assert result.error is None, result.error
    assert len(_trial_pods(result)) == 15
    sweep = _sweep(tmp_path / "run", "bayes")
    trials = sorted(sweep["trials"], key=lambda t: t["run_id"])  # run ids end in the suggestion index
    assert len(trials) == 15 and all(t["state"] == "finished" for t in trials)
    first_random = min(t["metric"] for t in trials[:3])  # suggested before any result was known
    assert sweep["best"]["metric"] < first_random
    runs = read_offline_runs(tmp_path / "wandb")
    assert len(runs) == 15
    assert all(abs(r.summary["loss"] - (r.config["x"] - 1.3) ** 2) < 1e-9 for r in runs)


def test_a_trial_that_raises_is_a_failed_run_and_a_failed_action(tmp_path: Path) -> None:
    result = _run(cs.grid_sweep, "fail-pods", tmp_path, SWEEP_FAIL_ONE="1")
    assert result.error is None, result.error  # the sweep completes
    # A failed action: the pod ran to the end and Flyte's entrypoint uploaded the task's error.
    failed_actions = [p.parent.name for p in _trial_dirs(result) if _action_failed(p.parent)]
    assert len(_trial_dirs(result)) == 4 and len(failed_actions) == 1
    runs = {(r.config["a"], r.config["b"]): r for r in read_offline_runs(tmp_path / "wandb")}
    assert len(runs) == 4 and runs[(1, "y")].exit_code != 0
    assert all(r.exit_code == 0 for k, r in runs.items() if k != (1, "y"))
    sweep = _sweep(tmp_path / "run", "grid")
    (failed,) = [t for t in sweep["trials"] if t["state"] == "failed"]
    assert failed["params"] == {"a": 1, "b": "y"} and "diverged" in failed["error"]


def test_a_flyte_task_objective_runs_as_the_trial_action(tmp_path: Path) -> None:
    result = _run(cs.task_objective_sweep, "task-pods", tmp_path)
    assert result.error is None, result.error
    pods = _trial_pods(result)
    assert len(pods) == 4 and all(p["returncode"] == 0 for p in pods)
    runs = read_offline_runs(tmp_path / "wandb")
    assert sorted((r.config["a"], r.config["b"]) for r in runs) == [(1, "x"), (1, "y"), (2, "x"), (2, "y")]
    assert {r.group for r in runs} == {result.value}
    sweep = _sweep(tmp_path / "run", "task")
    assert sorted(t["run_id"] for t in sweep["trials"]) == sorted(r.id for r in runs)
    assert sweep["best"]["params"] == {"a": 2, "b": "y"} and sweep["best"]["metric"] == 21.0


@pytest.mark.slow
def test_a_killed_sweep_task_run_again_repeats_no_finished_trial(tmp_path: Path) -> None:
    first = _run(cs.killed_sweep, "killed-pods", tmp_path, base="attempt1")
    assert first.error is not None  # the sweep pod was killed during its third trial
    before = [r for r in read_offline_runs(tmp_path / "wandb") if r.exit_code is not None]
    assert len(before) == 2
    second = _run(cs.killed_sweep, "killed-pods", tmp_path, base="attempt2")
    assert second.error is None, second.error
    assert second.value == before[0].group  # the same sweep
    finished = [r for r in read_offline_runs(tmp_path / "wandb") if r.exit_code is not None]
    assert len(finished) == 6  # count=6 in total, not 6 more
    assert len({r.id for r in finished}) == 6  # no finished trial ran twice
    sweep = _sweep(tmp_path / "attempt2", "killed")
    # The result holds the whole sweep: the 2 trials of the first attempt, marked resumed, and 4 new.
    assert len(sweep["trials"]) == 6
    resumed = [t for t in sweep["trials"] if t.get("resumed")]
    new = [t for t in sweep["trials"] if not t.get("resumed")]
    assert {t["run_id"] for t in resumed} == {r.id for r in before} and len(new) == 4
    assert not {t["run_id"] for t in new} & {r.id for r in before}
    assert min(int(t["run_id"].rsplit("-", 1)[1]) for t in new) == 3  # the count continues


def test_early_terminate_that_cannot_act_is_said_once(tmp_path: Path) -> None:
    result = _run(cs.early_terminate_sweep, "hb-pods", tmp_path)
    assert result.error is None, result.error
    log = (result.root.out_dir / "pod.log").read_text()
    assert log.count("early_terminate is NOT applied to running trials") == 1
