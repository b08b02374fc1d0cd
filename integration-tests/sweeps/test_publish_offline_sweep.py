"""Publishing an offline sweep later: `wandb sync` the trial runs, then a W&B sweep adopts them.

The recipe of docs/sweeps.md, against the loopback W&B server: the offline sweep runs first (no
server involved), then its trial runs are uploaded and a sweep is created with ``prior_runs``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import flyte
import pytest
import sweep_tasks as st
import wandb

from flyteplugins.wandb import wandb_config, wandb_sweep_config
from flyteplugins.wandb.testing import read_offline_runs

pytestmark = pytest.mark.integration

GRID = st.grid("published")


def test_synced_trial_runs_are_adopted_by_a_new_sweep(wandb_server, wandb_dir: Path) -> None:
    # 1. Air-gapped: the sweep is offline even though a server is reachable.
    st.SETTINGS.update(count=4, agents=2)
    context = {**wandb_config(mode="offline", entity=wandb_server.entity), **wandb_sweep_config(**GRID)}
    run = flyte.with_runcontext(mode="local", name="publish", custom_context=context).run(st.sweep_async, "grid")
    sweep_id = run.outputs()[0]
    assert wandb_server.runs(project="published") == []  # nothing left the machine
    trials = [r for r in read_offline_runs(wandb_dir) if r.group == sweep_id]
    assert len(trials) == 4

    # 2. Later, with network: upload the trial runs ...
    env = {k: v for k, v in os.environ.items() if k != "WANDB_MODE"}
    wandb_cli = [sys.executable, "-m", "wandb"]
    subprocess.run(
        [*wandb_cli, "sync", "--project", "published", "--entity", wandb_server.entity] + [str(t.path) for t in trials],
        check=True,
        env=env,
        capture_output=True,
        timeout=300,
    )
    # ... and create the sweep that adopts them.
    config = {k: GRID[k] for k in ("method", "metric", "parameters")}
    published = wandb.sweep(
        sweep={**config, "name": f"published-{sweep_id}"},
        project="published",
        entity=wandb_server.entity,
        prior_runs=[t.id for t in trials],
    )

    sweep = wandb_server.sweep(published)
    assert sorted(sweep.run_names) == sorted(t.id for t in trials)
    runs = [wandb_server.run(name, project="published") for name in sweep.run_names]
    assert sorted((r.config["a"], r.config["b"]) for r in runs) == [(1, "x"), (1, "y"), (2, "x"), (2, "y")]
    for r in runs:
        assert r.summary["score"] == r.config["a"] * 10 + (1 if r.config["b"] == "y" else 0)
        assert r.group == sweep_id and r.sweep == published
