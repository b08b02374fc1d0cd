"""Non-local mode: every action in its own pod process, run by Flyte's own pod entrypoint.

A tracked parent calls a child (``run_mode="auto"``) and a ``run_mode="new"`` child; each is submitted
by the parent's pod and runs in a pod of its own (``cluster_pod``). Without a W&B key (this module) the
runs are written offline; ``test_shared_online.py`` runs the same tasks against the loopback W&B server.
"""

from __future__ import annotations

import os
from pathlib import Path

import cluster_pod
import cluster_tasks as ct
import pytest

from flyteplugins.wandb import wandb_config
from flyteplugins.wandb.testing import read_offline_runs

pytestmark = pytest.mark.integration

RUN = "rm-offline"
# The run's W&B settings, as users pass them: `flyte.with_runcontext(custom_context=wandb_config(...))`.
CONFIG = wandb_config(project="cluster-it", entity="it", tags=["cluster"])


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory: pytest.TempPathFactory) -> cluster_pod.RunResult:
    root = tmp_path_factory.mktemp("remote-offline")
    with cluster_pod.isolated_env(root):
        result = cluster_pod.run_root(ct.parent, 2, run_name=RUN, base_dir=root / "run", custom_context=CONFIG)
    assert result.error is None, result.error
    return result


def _by_label(result: cluster_pod.RunResult) -> dict[str, dict]:
    return {o["label"]: o for o in result.observations().values()}


def test_every_action_runs_in_its_own_pod_in_remote_mode(offline_run: cluster_pod.RunResult) -> None:
    obs = _by_label(offline_run)
    assert set(obs) == {"parent", "child", "child_new"}
    assert {o["mode"] for o in obs.values()} == {"remote"}
    pids = {o["pid"] for o in obs.values()}
    assert len(pids) == 3 and os.getpid() not in pids
    assert obs["parent"]["action"] == "a0"
    assert {o["run_name"] for o in obs.values()} == {RUN}
    assert [p["returncode"] for p in offline_run.pods()] == [0, 0, 0]


def test_parent_run_is_shared_with_the_child_pod(offline_run: cluster_pod.RunResult) -> None:
    obs = _by_label(offline_run)
    parent_id = f"{RUN}-a0"
    assert offline_run.value == parent_id
    assert obs["parent"]["run_id"] == parent_id
    # What the parent pod handed the child with its inputs (Flyte's custom_context).
    received = obs["child"]["custom_context"]
    assert received["_wandb_run_id"] == parent_id
    assert received["_wandb_run_offline"] == "true"
    assert received["wandb_tags"] == '["cluster"]'
    assert obs["child"]["run_id"] == parent_id
    assert obs["parent"]["child_run"] == parent_id


def test_offline_child_pod_writes_its_part_of_the_parents_run(offline_run: cluster_pod.RunResult) -> None:
    wandb_dir = offline_run.root.out_dir.parents[1] / "wandb"
    # wait=0: each pod process has exited, so its part must be complete on disk already.
    parts = [r for r in read_offline_runs(wandb_dir, wait=0) if r.id == f"{RUN}-a0"]
    # Offline runs cannot be shared between processes: each pod records its part under the one id,
    # which `wandb sync` assembles (the child's part as a resume).
    assert len(parts) == 2
    parent_part = next(r for r in parts if r.metric("parent/start"))
    child_part = next(r for r in parts if r.metric("child/loss"))
    assert parent_part.metric("parent/end") == [1] and parent_part.config["lr"] == 0.1
    assert child_part.metric("child/loss") == [1.0, 0.5]
    assert child_part.summary["child_done"] is True
    assert {p.exit_code for p in parts} == {0}
    assert {p.project for p in parts} == {"cluster-it"}


def test_new_child_pod_opens_its_own_run(offline_run: cluster_pod.RunResult) -> None:
    obs = _by_label(offline_run)
    own = obs["child_new"]
    assert own["run_id"] == f"{RUN}-{own['action']}"
    assert obs["parent"]["child_new_run"] == own["run_id"]
    wandb_dir = offline_run.root.out_dir.parents[1] / "wandb"
    (run,) = [r for r in read_offline_runs(wandb_dir, wait=0) if r.id == own["run_id"]]
    assert run.metric("own/metric") == [2.0] and run.exit_code == 0
    assert run.project == "cluster-it" and run.tags == ["cluster"]


def test_links_rendered_at_submit_name_the_runs_the_pods_wrote(offline_run: cluster_pod.RunResult) -> None:
    obs = _by_label(offline_run)
    for label in ("parent", "child", "child_new"):
        action = obs[label]["action"]
        (link,) = offline_run.pod(action)["links"]
        assert link[0] == "Weights & Biases"
        url = cluster_pod.render(link[1], run_name=RUN, action_name=action)
        assert url.endswith(f"/runs/{obs[label]['run_id']}"), (label, link)
    # The auto child's link was rendered in the parent's pod, from what the parent advertised.
    (child_link,) = offline_run.pod(obs["child"]["action"])["links"]
    assert child_link[1] == f"https://wandb.ai/it/cluster-it/runs/{RUN}-a0"


def test_no_key_in_the_pods_means_offline(offline_run: cluster_pod.RunResult) -> None:
    obs = _by_label(offline_run)
    assert {o["has_key"] for o in obs.values()} == {False}
    assert {o["offline"] for o in obs.values()} == {True}
    assert Path(offline_run.root.out_dir / "pod.log").read_text().count("wandb sync") >= 1
