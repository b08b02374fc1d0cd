"""An offline sweep on pods, kept in the Flyte run's storage, is published as one W&B sweep by sync.

The sweep task's pod keeps the sweep's definition beside the trial pods' stored runs (moto S3 on
loopback as the raw-data store, no key anywhere); after the pods are deleted, ``sync`` uploads the
trials to the loopback W&B server and creates one sweep holding all of them, histories included.
A two-trial grid, and (marked slow) a bayes sweep of 3 agents and 9 trials, whose suggestions
depend on the results the trial pods return.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import cluster_pod
import cluster_s3
import pytest
from wandb_loopback import LoopbackServer

pytest.importorskip("flyteplugins.wandb_sweeps", reason="flyteplugins-wandb-sweeps is not installed")

import cluster_offline_sweep_tasks as cs

from flyteplugins.wandb_core.sync import list_stored_sweeps, sync_offline_runs

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

STORE = cluster_s3.STORE


def _sweep_on_pods_then_delete_them(
    sweep_task: Any, run_name: str, tmp_path: Path, s3: dict[str, str], trials: int | None = None, **run: Any
) -> str:
    """Run the sweep task on pods, delete what the pods wrote on their disks; the offline sweep id."""
    with cluster_pod.isolated_env(tmp_path, **s3):
        result = cluster_pod.run_root(sweep_task, run_name=run_name, base_dir=tmp_path / "run", **run)
        assert result.error is None, result.error
        if trials is not None:  # a pod per trial
            assert len([p for p in result.pods() if p["action"] != "a0"]) == trials
        offline_id = result.value
        # The pods are gone: nothing they wrote on their disks is left.
        for sub in ("wandb", "run"):
            shutil.rmtree(tmp_path / sub, ignore_errors=True)
        [stored] = list_stored_sweeps(run_name, store=STORE)
    assert stored.sweep_id == offline_id and not stored.published
    return str(offline_id)


def test_offline_grid_sweep_on_pods_syncs_as_one_wandb_sweep(tmp_path: Path, s3: dict[str, str]) -> None:
    run_name = "persist-sweep"
    offline_id = _sweep_on_pods_then_delete_them(cs.small_grid_sweep, run_name, tmp_path, s3)

    with LoopbackServer() as server, cluster_pod.isolated_env(tmp_path, **server.env(), **s3):
        report = sync_offline_runs(run_name, store=STORE, progress=False)
        assert report.ok, report.failed
        assert len(report.synced) == 2 and set(report.sweeps) == {offline_id}
        [sweep] = server.sweeps()
        assert sweep.name == report.sweeps[offline_id] and sweep.project == "cluster-sweeps"
        assert sweep.method == "grid" and sweep.config["metric"] == {"name": "score", "goal": "maximize"}
        runs = [server.run(name) for name in sweep.run_names]
        assert sorted((r.config["a"], r.config["b"]) for r in runs) == [(1, "y"), (2, "y")]
        for r in runs:  # the whole history: the one row each trial logged, with its score
            [row] = [json.loads(line) for line in r.history_lines]
            assert row["score"] == r.config["a"] * 10 + (1 if r.config["b"] == "y" else 0)
            assert r.sweep == sweep.name and r.group == offline_id

        # A second sync uploads nothing and creates no second sweep.
        again = sync_offline_runs(run_name, store=STORE, progress=False)
        assert again.ok and not again.synced and not again.sweeps and len(again.skipped) == 2
        assert len(server.sweeps()) == 1 and len(server.runs()) == 2


# Nine trial pods: minutes on a shared 2-core machine, so it runs with the other slow proofs.
@pytest.mark.slow
def test_offline_bayes_sweep_on_pods_syncs_as_one_wandb_sweep(tmp_path: Path, s3: dict[str, str]) -> None:
    pytest.importorskip("numpy", reason="bayes search needs numpy")
    run_name = "persist-bayes"
    offline_id = _sweep_on_pods_then_delete_them(cs.small_bayes_sweep, run_name, tmp_path, s3, trials=9, timeout=540)

    with LoopbackServer() as server, cluster_pod.isolated_env(tmp_path, **server.env(), **s3):
        report = sync_offline_runs(run_name, store=STORE, progress=False)
        assert report.ok, report.failed
        assert len(report.synced) == 9 and set(report.sweeps) == {offline_id}
        [sweep] = server.sweeps()
        assert sweep.name == report.sweeps[offline_id] and sweep.project == "cluster-sweeps"
        assert sweep.method == "bayes" and sweep.config["metric"] == {"name": "loss", "goal": "minimize"}
        runs = [server.run(name) for name in sweep.run_names]
        assert len(runs) == 9 and len({r.config["x"] for r in runs}) == 9
        for r in runs:  # the whole history: the three rows each trial logged, each once
            rows = [json.loads(line) for line in r.history_lines]
            assert [row["_step"] for row in rows] == [0, 1, 2]
            assert all(row["step_x"] == r.config["x"] and -5.0 <= r.config["x"] <= 5.0 for row in rows)
            assert r.summary["loss"] == pytest.approx((r.config["x"] - 1.3) ** 2)
            assert r.sweep == sweep.name and r.group == offline_id and r.state == "finished"

        # A second sync uploads nothing and creates no second sweep.
        again = sync_offline_runs(run_name, store=STORE, progress=False)
        assert again.ok and not again.synced and not again.sweeps and len(again.skipped) == 9
        assert len(server.sweeps()) == 1 and len(server.runs()) == 9
