"""The wrapped task survives cloudpickle: Flyte pickles tasks defined in ``__main__`` (pkl code bundles,
deploy versions) and flyteplugins-pytorch cloudpickles ``task.func`` into every Elastic worker.

The tasks are defined in a script (``__main__``, so they are pickled by value, wrapper and user
function alike) and loaded in another process that cannot import that script, where they run and
write real W&B offline runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import cloudpickle
import cluster_tasks
import pytest

from flyteplugins.wandb import Wandb
from flyteplugins.wandb.testing import read_offline_runs
from flyteplugins.wandb_core._decorator import MARKER

pytestmark = pytest.mark.integration
HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    import cluster_pod

    produced = tmp_path_factory.mktemp("produced")
    consumer_dir = tmp_path_factory.mktemp("consumer")
    with cluster_pod.isolated_env(consumer_dir):
        subprocess.run([sys.executable, str(HERE / "pickle_producer.py"), str(produced)], check=True, cwd=produced)
        proc = subprocess.run(
            [sys.executable, str(HERE / "pickle_consumer.py"), str(produced)],
            cwd=consumer_dir,
            env={**os.environ, "PYTHONPATH": ""},
            capture_output=True,
            text=True,
            timeout=240,
        )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), consumer_dir / "wandb"


def test_unpickled_task_keeps_its_tracking_settings_and_link(round_trip: tuple[dict[str, Any], Path]) -> None:
    result, _ = round_trip
    settings = {"project": "pickled", "config": {"source": "by-value"}}
    assert result["marker"] == settings
    assert result["func_marker"] == settings
    assert result["links"] == [["Wandb", "pickled"]]


def test_unpickled_task_runs_tracked_in_local_mode(round_trip: tuple[dict[str, Any], Path]) -> None:
    result, wandb_dir = round_trip
    assert result["local"] == 6 and result["alocal"] == 6
    runs = {r.id.split("-")[1]: r for r in read_offline_runs(wandb_dir) if r.id.startswith("pk-")}
    local = runs["local"]
    assert local.project == "pickled"
    assert local.config["source"] == "by-value"
    # The tracked helper (pickled by value with the task) logged into the task's run.
    assert local.metric("x") == [3] and local.metric("helper") == [3]
    assert local.exit_code == 0
    assert runs["async"].metric("ax") == [5] and runs["async"].exit_code == 0


def test_unpickled_func_runs_tracked_in_a_non_local_task_context(round_trip: tuple[dict[str, Any], Path]) -> None:
    result, wandb_dir = round_trip
    assert result["remote"] == 8
    (run,) = [r for r in read_offline_runs(wandb_dir) if r.id.startswith("pk-remote")]
    # The id comes from the task context the function found itself in: `{run_name}-{action_name}`.
    assert run.id == "pk-remote-a0"
    assert run.metric("x") == [4] and run.metric("helper") == [4]
    assert run.exit_code == 0


def test_in_process_round_trip_keeps_override_tracking() -> None:
    task = cloudpickle.loads(cloudpickle.dumps(cluster_tasks.solo))
    assert getattr(task.func, MARKER) == getattr(cluster_tasks.solo.func, MARKER)
    assert [type(link) for link in task.links] == [Wandb]
    overridden = task.override(retries=2)
    assert hasattr(overridden.func, MARKER)
    again = cloudpickle.loads(cloudpickle.dumps(overridden.func))
    assert getattr(again, MARKER) == {"project": "cluster-it", "entity": "it"}
