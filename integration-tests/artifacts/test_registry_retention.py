"""W&B Registry links and checkpoint retention, with the real wandb SDK against the loopback server.

A producer task logs ``my-model`` and links it to ``wandb-registry-model/demo`` with ``staging``; a
consumer task in another project uses ``wandb-registry-model/demo:staging``. A 40-step job saves a
checkpoint every 5 steps with ``keep_last=2, keep_best=("loss", "min")``: exactly the expected
versions must be left, on the server online and on disk offline.
"""

from __future__ import annotations

from pathlib import Path

import flyte
import pytest
import registry_tasks as tasks
import wandb

from flyteplugins.wandb import (
    WandbConfigError,
    link_wandb_artifact,
    log_wandb_artifact,
    save_wandb_checkpoint,
    wandb_init,
)
from flyteplugins.wandb.testing import read_offline_runs

pytestmark = pytest.mark.integration

# Saved at 0, 5, ..., 35. Kept: the last two (30, 35), the best loss (15), the user alias (5).
KEPT = [5, 15, 30, 35]


def test_producer_links_to_the_registry_and_consumer_uses_it(wandb_server) -> None:
    producer, consumer, data = (
        flyte.with_runcontext(mode="local", name="promote").run(tasks.promote_and_deploy).outputs()
    )
    assert data == b"\x00weights-v1"  # the consumer got the producer's bytes through the registry
    (row,) = wandb_server.artifact_lineage()
    assert row["artifact"] == "loopback/reg/my-model:v0"
    assert row["logged_by"] == producer and row["used_by"] == [consumer]
    assert row["links"] == [{"target": "loopback-org/wandb-registry-model/demo:v0", "aliases": ["staging", "latest"]}]
    # The same graph through the public Api: the registry version resolves to the source version.
    api = wandb.Api()
    linked = api.artifact("loopback-org/wandb-registry-model/demo:staging")
    assert linked.source_qualified_name == "loopback/reg/my-model:v0"
    assert linked.logged_by().id == producer
    assert [r.id for r in linked.used_by()] == [consumer]
    assert not wandb_server.unknown_operations


def test_an_alias_moves_to_the_newest_link(wandb_server) -> None:
    @wandb_init(project="reg")
    def promote(payload: bytes) -> None:
        path = Path("model.bin")
        path.write_bytes(payload)
        log_wandb_artifact(path, name="my-model", type="model", registry="wandb-registry-model/demo",
                           registry_aliases=["staging"])  # fmt: skip

    @wandb_init(project="reg")
    def to_production(ref: str) -> str:
        return str(link_wandb_artifact(ref, "wandb-registry-model/demo", aliases=["production"]).version)

    promote(b"one")
    promote(b"two")
    assert to_production("my-model:v0") == "v0"  # a reference links an already logged version
    links = [link for row in wandb_server.artifact_lineage() for link in row["links"]]
    assert links == [
        {"target": "loopback-org/wandb-registry-model/demo:v0", "aliases": ["production"]},
        {"target": "loopback-org/wandb-registry-model/demo:v1", "aliases": ["staging", "latest"]},
    ]


def test_retention_online_leaves_the_expected_versions(wandb_server) -> None:
    flyte.with_runcontext(mode="local", name="keep").run(tasks.train_and_keep)
    rows = [r for r in wandb_server.artifact_lineage() if r["type"] == "checkpoint"]
    assert [r["metadata"]["step"] for r in rows] == KEPT
    assert [r["artifact"].rsplit(":", 1)[1] for r in rows] == ["v1", "v3", "v6", "v7"]  # never renumbered
    assert "latest" in rows[-1]["aliases"] and "keep-me" in rows[0]["aliases"]
    assert not wandb_server.unknown_operations


def test_retention_never_deletes_a_linked_version(wandb_server) -> None:
    @wandb_init(project="keep")
    def train() -> None:
        state = Path("state.txt")
        for step in range(4):
            state.write_text(str(step))
            registry = "wandb-registry-model/ckpt" if step == 0 else None
            save_wandb_checkpoint(state, step=step, keep_last=1, registry=registry)

    train()
    rows = [r for r in wandb_server.artifact_lineage() if r["type"] == "checkpoint"]
    assert [r["metadata"]["step"] for r in rows] == [0, 3]  # 0 is in the registry, 3 is the newest


def test_retention_offline_prunes_the_local_copies(isolated_wandb: Path, monkeypatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    flyte.with_runcontext(mode="local", name="keep-off").run(tasks.train_and_keep)
    (store,) = (isolated_wandb / "wandb" / "flyte-checkpoints").iterdir()
    (ckpt,) = store.iterdir()
    assert sorted(int(p.name.split("-")[1]) for p in ckpt.iterdir()) == KEPT
    # Every save is still in the run's files, for wandb sync (retention offline is about disk).
    (run,) = read_offline_runs(isolated_wandb / "wandb")
    assert [a["metadata"]["step"] for a in run.artifacts] == list(range(0, tasks.STEPS, tasks.EVERY))


def test_registry_offline_is_refused_before_anything_is_logged(isolated_wandb: Path, monkeypatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")

    @wandb_init(project="reg")
    def promote() -> None:
        Path("model.bin").write_bytes(b"x")
        log_wandb_artifact("model.bin", type="model", registry="wandb-registry-model/demo")

    with pytest.raises(WandbConfigError, match=r"offline.*W&B Registry"):
        promote()
    (run,) = read_offline_runs(isolated_wandb / "wandb")
    assert run.artifacts == []
