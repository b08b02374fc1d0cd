"""An offline sweep with an Elastic objective task on the pod simulator: each trial is a torch job."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="torch is not installed: see integration-tests/cluster/README.md")
pytest.importorskip("flyteplugins.pytorch", reason="flyteplugins-pytorch is not installed")
pytest.importorskip("flyteplugins.wandb_distributed", reason="flyteplugins-wandb-distributed is not installed")
pytest.importorskip("flyteplugins.wandb_sweeps", reason="flyteplugins-wandb-sweeps is not installed")

import cluster_elastic_sweep as ces
import cluster_pod

from flyteplugins.wandb.testing import read_offline_runs

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]


def test_elastic_trials_are_torch_jobs_whose_rank_0_logs_the_trial_run(tmp_path: Path) -> None:
    with cluster_pod.isolated_env(tmp_path):
        result = cluster_pod.run_root(ces.elastic_sweep, run_name="el-sweep", base_dir=tmp_path / "run", timeout=800)
    assert result.error is None, result.error
    sweep = json.loads((tmp_path / "run" / "sweep-elastic.json").read_text())
    assert sorted(t["params"]["x"] for t in sweep["trials"]) == [0.0, 1.0]
    assert sweep["best"]["params"] == {"x": 1.0} and sweep["best"]["metric"] == 0.0
    ranks = [json.loads(p.read_text()) for p in (tmp_path / "run").glob("trial-*.json")]
    assert sorted(r["rank"] for r in ranks) == [0, 0, 1, 1]  # two trials, two workers each
    trial_ids = {t["run_id"] for t in sweep["trials"]}
    assert {r["run_id"] for r in ranks if r["rank"] == 0} == trial_ids  # rank 0 holds the trial's run
    assert {r["run_id"] for r in ranks if r["rank"] == 1} == {None}  # rank_scope="global": rank 1 does not log
    runs = [r for r in read_offline_runs(tmp_path / "wandb") if r.id in trial_ids]
    assert len(runs) == 2 and {r.group for r in runs} == {result.value}
    assert sorted((r.config["x"], r.summary["loss"]) for r in runs) == [(0.0, 1.0), (1.0, 0.0)]
