"""Elastic tasks through the Elastic plugin's real non-local launch path, and their deployment.

In a pod (``cluster_pod``: Flyte's own pod entrypoint, ``TaskContext.mode == "remote"``),
``TorchFunctionTask.execute`` calls torch's ``elastic_launch`` with ``nproc_per_node=2``: two worker
processes on this machine, each unpickling the cloudpickled ``@wandb_init`` wrapper and calling it in
the pod's task context (flyteplugins-pytorch's ``launcher_entrypoint``), with torch's RANK variables.
Every worker joins a gloo process group. The W&B side is checked in the offline run files.

Needs torch and flyteplugins-pytorch, which the default environment deliberately lacks (see
``integration-tests/distributed``); without them the module is skipped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch", reason="torch is not installed: see integration-tests/cluster/README.md for the venv")
pytest.importorskip("flyteplugins.pytorch", reason="flyteplugins-pytorch (Flyte's Elastic plugin) is not installed")
pytest.importorskip("flyteplugins.wandb_distributed", reason="flyteplugins-wandb-distributed is not installed")

import cluster_deploy as cd
import cluster_elastic as ce
import cluster_pod

from flyteplugins.wandb.testing import OfflineRun, read_offline_runs

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

# auto and new write offline (no key in their pods); shared runs online against the loopback server.
MODES = {"auto": ce.train_auto, "new": ce.train_new, "shared": ce.train_shared, "async": ce.train_async}
ONLINE = {"shared"}
TEMPLATE_ID = "{{.runName}}-{{.actionName}}"
# The object store's settings while the module's runs are up (the fixture's tuple stays as it was).
STORE_SETTINGS: dict[str, str] = {}


@pytest.fixture(scope="module")
def elastic_runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[dict[str, cluster_pod.RunResult], Path, Any]]:
    loopback = pytest.importorskip("wandb_loopback", reason="the loopback W&B server needs graphql-core")
    root = tmp_path_factory.mktemp("elastic")
    pytest.importorskip("moto.server", reason="the cluster's object store is moto's S3 server")
    import cluster_s3

    with loopback.LoopbackServer() as server, cluster_s3.object_store() as store:
        env = {**server.env(), **store}  # the offline runs are kept in the store (_persist)
        STORE_SETTINGS.update(store)
        key = env.pop("WANDB_API_KEY")  # reaches a pod only as its injected secret
        # All runs at once: each is a pod plus two workers, mostly waiting on imports.
        with cluster_pod.isolated_env(root, **env), ThreadPoolExecutor(max_workers=len(MODES)) as pool:
            futures = {
                mode: pool.submit(
                    cluster_pod.run_root,
                    task,
                    run_name=f"el-{mode}",
                    base_dir=root / mode,
                    secrets={"wandb_api_key": key} if mode in ONLINE else {},
                    timeout=400,
                )
                for mode, task in MODES.items()
            }
            results = {mode: f.result() for mode, f in futures.items()}
        for mode, result in results.items():
            assert result.error is None, (mode, result.error)
        yield results, root / "wandb", server


def workers(result: cluster_pod.RunResult) -> dict[int, dict[str, Any]]:
    found = result.observations(prefix="elastic-")
    return {entry["rank"]: entry for entry in found.values()}


def runs_of(wandb_dir: Path, base: str) -> dict[str, OfflineRun]:
    return {r.id: r for r in read_offline_runs(wandb_dir) if r.id == base or r.id.startswith(base + "-")}


@pytest.mark.parametrize("mode", list(MODES))
def test_two_workers_ran_the_task_in_the_pods_context(
    elastic_runs: tuple[dict[str, cluster_pod.RunResult], Path, Any], mode: str
) -> None:
    result = elastic_runs[0][mode]
    ranks = workers(result)
    assert sorted(ranks) == [0, 1]
    assert {w["world_size"] for w in ranks.values()} == {2}
    assert len({w["pid"] for w in ranks.values()}) == 2 and os.getpid() not in {w["pid"] for w in ranks.values()}
    # Both are children of the pod's elastic agent, which named the rendezvous after the Flyte run.
    assert len({w["ppid"] for w in ranks.values()}) == 1
    assert {w["torchelastic_run_id"] for w in ranks.values()} == {f"el-{mode}"}
    assert {w["mode"] for w in ranks.values()} == {"remote"}
    assert {(w["run_name"], w["action"]) for w in ranks.values()} == {(f"el-{mode}", "a0")}
    assert {w["allreduce"] for w in ranks.values()} == {3.0}
    # The task's output is what rank 0 returned (elastic_launch's result for rank 0).
    assert json.loads(result.value)["rank"] == 0


def test_auto_global_only_rank_zero_logs(elastic_runs: tuple[dict[str, cluster_pod.RunResult], Path, Any]) -> None:
    results, wandb_dir, _ = elastic_runs
    ranks = workers(results["auto"])
    base = "el-auto-a0"
    assert ranks[0]["got_run"] and ranks[0]["run_id"] == base
    assert not ranks[1]["got_run"] and ranks[1]["run_id"] is None
    runs = runs_of(wandb_dir, base)
    assert list(runs) == [base]
    run = runs[base]
    assert run.metric("rank") == [0, 0, 0] and run.exit_code == 0
    assert run.project == ce.PROJECT and run.entity == ce.ENTITY


def test_async_task_function_runs_to_completion_in_each_worker(
    elastic_runs: tuple[dict[str, cluster_pod.RunResult], Path, Any],
) -> None:
    # An `async def` Elastic task (the seeds' example): each elastic_launch worker ran the coroutine to
    # its end on an event loop, with the same rank handling as a `def` task (rank 0 logs alone).
    results, wandb_dir, _ = elastic_runs
    ranks = workers(results["async"])
    assert sorted(ranks) == [0, 1]
    assert {r: (w["label"], w["in_event_loop"]) for r, w in ranks.items()} == {
        0: ("async/auto/global", True),
        1: ("async/auto/global", True),
    }
    base = "el-async-a0"
    assert ranks[0]["got_run"] and ranks[0]["run_id"] == base
    assert not ranks[1]["got_run"]
    runs = runs_of(wandb_dir, base)
    assert list(runs) == [base]
    assert runs[base].metric("rank") == [0, 0, 0] and runs[base].exit_code == 0
    assert json.loads(results["async"].value)["rank"] == 0


def test_new_global_one_run_per_rank_grouped(elastic_runs: tuple[dict[str, cluster_pod.RunResult], Path, Any]) -> None:
    results, wandb_dir, _ = elastic_runs
    ranks = workers(results["new"])
    base = "el-new-a0"
    assert {r: w["run_id"] for r, w in ranks.items()} == {0: f"{base}-rank-0", 1: f"{base}-rank-1"}
    assert {w["group"] for w in ranks.values()} == {base}
    runs = runs_of(wandb_dir, base)
    assert sorted(runs) == [f"{base}-rank-0", f"{base}-rank-1"]
    for rank in (0, 1):
        run = runs[f"{base}-rank-{rank}"]
        assert run.group == base
        assert run.metric("rank") == [rank] * ce.STEPS and run.exit_code == 0


def test_new_global_every_ranks_offline_run_is_kept_and_synced(
    elastic_runs: tuple[dict[str, cluster_pod.RunResult], Path, Any], tmp_path: Path
) -> None:
    from flyteplugins.wandb_core.sync import list_stored_runs, sync_offline_runs

    _, _, server = elastic_runs
    base = "el-new-a0"
    store = "s3://flyte-data"
    with cluster_pod.isolated_env(tmp_path, **server.env(), **STORE_SETTINGS):
        stored = list_stored_runs("el-new", store=store)
        assert sorted(r.run_id for r in stored) == [f"{base}-rank-0", f"{base}-rank-1"]
        report = sync_offline_runs("el-new", store=store, progress=False)
    assert report.ok and len(report.synced) == 2, report.failed
    for rank in (0, 1):
        assert len(server.run(f"{base}-rank-{rank}").history_lines) == ce.STEPS


def test_shared_global_every_rank_writes_one_online_run(
    elastic_runs: tuple[dict[str, cluster_pod.RunResult], Path, Any],
) -> None:
    results, wandb_dir, server = elastic_runs
    ranks = workers(results["shared"])
    base = "el-shared-a0"
    assert {r: (w["run_id"], w["x_label"], w["x_primary"]) for r, w in ranks.items()} == {
        0: (base, "rank-0", True),
        1: (base, "rank-1", False),
    }
    assert {w["offline"] for w in ranks.values()} == {False}
    run = server.run(base, project=ce.PROJECT)
    assert sorted(run.metric("rank")) == [0, 0, 0, 1, 1, 1]
    assert len(run.writers) == 2
    # Rank 0 is the primary: the run is finished once, by it.
    assert run.state == "finished" and run.exit_code == 0 and run.finish_count == 1
    assert not runs_of(wandb_dir, base)


def test_submitted_links_name_the_elastic_runs(
    elastic_runs: tuple[dict[str, cluster_pod.RunResult], Path, Any],
) -> None:
    results, _, server = elastic_runs
    # The submitting process's WANDB_BASE_URL (the loopback server) is the links' host.
    base = f"{server.url}/{ce.ENTITY}/{ce.PROJECT}"
    expected = {"auto": "runs/el-auto-a0", "new": "groups/el-new-a0", "shared": "runs/el-shared-a0"}
    for mode, tail in expected.items():
        (link,) = results[mode].pod("a0")["links"]
        assert cluster_pod.render(link[1], run_name=f"el-{mode}", action_name="a0") == f"{base}/{tail}"


def test_elastic_environment_deploys_with_links() -> None:
    from google.protobuf.json_format import MessageToDict

    specs = cd.dry_run(ce.env)
    assert set(specs) == {"cluster_elastic.train_auto", "cluster_elastic.train_new", "cluster_elastic.train_shared"}
    for spec in specs.values():
        custom = MessageToDict(spec.task_template.custom)
        assert custom["elasticConfig"]["nprocPerNode"] == 2
        (secret,) = spec.task_template.security_context.secrets
        assert (secret.key, secret.env_var) == ("wandb_api_key", "WANDB_API_KEY")
    specs = cd.deploy_recorded(ce.env)
    base = f"https://wandb.ai/{ce.ENTITY}/{ce.PROJECT}"
    assert cd.links(specs["cluster_elastic.train_auto"]) == [("Weights & Biases", f"{base}/runs/{TEMPLATE_ID}")]
    assert cd.links(specs["cluster_elastic.train_new"]) == [("Weights & Biases", f"{base}/groups/{TEMPLATE_ID}")]
    assert cd.links(specs["cluster_elastic.train_shared"]) == [("Weights & Biases", f"{base}/runs/{TEMPLATE_ID}")]


def test_multi_node_worker_scope_deploys_one_link_per_worker() -> None:
    specs = cd.deploy_recorded(ce.env_multi)
    spec = specs["cluster_elastic_multi.train_per_worker"]
    assert spec.task_template.type == "pytorch"
    base = f"https://wandb.ai/{ce.ENTITY}/{ce.PROJECT}/runs/{TEMPLATE_ID}"
    assert cd.links(spec) == [
        ("Weights & Biases Worker 0", f"{base}-worker-0"),
        ("Weights & Biases Worker 1", f"{base}-worker-1"),
    ]
