"""Runs shared across processes: a parent task and its child in separate pods log into one W&B run.

Each action runs in its own process in Flyte's non-local mode (``integration-tests/cluster/
cluster_pod.py``: Flyte's own pod entrypoint). The parent's pod creates the run in W&B shared mode as
the primary writer; the child's pod joins it as a secondary labelled with its action name. The loopback
server must end up with one run holding both writers' metrics, finished once, by the primary, with the
primary's exit code.
"""

from __future__ import annotations

from pathlib import Path

import cluster_pod
import pytest
import shared_tasks as st
from wandb_loopback import DUMMY_API_KEY, LoopbackServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not cluster_pod.pod_simulation_supported(),
        reason="the pod simulator drives flyte internals newer than this flyte release; the shared-run "
        "behaviour itself is covered on the latest flyte",
    ),
]

SECRETS = {"wandb_api_key": DUMMY_API_KEY}


def _obs(result: cluster_pod.RunResult) -> dict[str, dict]:
    return {o["label"]: o for o in result.observations().values()}


def test_parent_and_child_pods_write_one_run(wandb_server: LoopbackServer, tmp_path: Path) -> None:
    result = cluster_pod.run_root(st.parent, 2, run_name="shr", base_dir=tmp_path / "run", secrets=SECRETS)
    assert result.error is None, result.error
    obs = _obs(result)
    run_id = "shr-a0"
    assert result.value == run_id
    assert {o["mode"] for o in obs.values()} == {"remote"}
    assert obs["parent"]["pid"] != obs["child"]["pid"]
    # The creating task is the primary; the child joins as a secondary labelled by its action.
    assert obs["parent"]["x_primary"] is True and obs["parent"]["x_label"] == "a0"
    assert obs["child"]["x_primary"] is False and obs["child"]["x_update_finish_state"] is False
    assert obs["child"]["x_label"] == obs["child"]["action"] != "a0"

    (stored,) = wandb_server.runs()
    assert stored.path == f"it/shared-it/{run_id}"
    assert stored.metric("parent/start") == [1] and stored.metric("parent/end") == [1]
    assert stored.metric("child/loss") == [1.0, 0.5]
    assert stored.summary["child_done"] is True and stored.summary["parent_done"] is True
    # The child joined as a secondary: the run's Flyte identity stays the parent's.
    assert set(stored.config) == {"lr", "flyte"} and stored.config["lr"] == 0.1
    assert stored.config["flyte"]["action_name"] == "a0"
    assert len(stored.shared_clients) == 2
    primary_client = stored.shared_clients[0]  # the parent upserted the run first
    assert stored.finish_count == 1 and stored.finished_by == [primary_client]
    assert stored.state == "finished" and stored.exit_code == 0


def test_failing_primary_finishes_the_shared_run_with_its_exit_code(
    wandb_server: LoopbackServer, tmp_path: Path
) -> None:
    result = cluster_pod.run_root(st.parent_fails, 1, run_name="shf", base_dir=tmp_path / "run", secrets=SECRETS)
    assert result.error is not None and "parent fails after its child" in str(result.error)
    (stored,) = wandb_server.runs()
    assert stored.id == "shf-a0" and stored.metric("child/loss") == [1.0]
    # The child succeeded, but only the primary's (failing) exit is recorded.
    assert stored.finish_count == 1 and stored.finished_by == [stored.shared_clients[0]]
    assert stored.state == "failed" and stored.exit_code == 1
