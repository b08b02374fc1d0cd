"""Artifacts against the loopback W&B server: lineage across two Flyte tasks, outputs, resume.

The producer and consumer run as two Flyte tasks in local mode, each with its own W&B run; the
server must then hold one artifact version whose logging run is the producer's and whose using run
is the consumer's (read back from the server's records and through wandb's public Api).
"""

from __future__ import annotations

import artifact_tasks as tasks
import flyte
import pytest
import wandb

pytestmark = pytest.mark.integration


def test_two_task_lineage_is_recorded_on_the_server(wandb_server) -> None:
    run = flyte.with_runcontext(mode="local", name="lineage").run(tasks.pipeline)
    producer, consumer, text = run.outputs()
    assert producer != consumer
    assert text == "x,y\n1,2\n3,4\n"  # the consumer got the producer's bytes through W&B

    (row,) = [r for r in wandb_server.artifact_lineage() if r["artifact"].startswith("loopback/art/training-data")]
    assert row["state"] == "COMMITTED"
    assert row["logged_by"] == producer
    assert row["used_by"] == [consumer]
    assert row["files"] == ["meta/info.txt", "train.csv"]
    assert row["metadata"]["rows"] == 2
    lineage = row["metadata"]["flyte"]
    assert lineage["run_name"] == "lineage" and lineage["in_task"] is True
    assert lineage["action_name"]  # the producer's action

    # The same graph through the public Api a W&B user would query.
    api = wandb.Api()
    art = api.artifact("loopback/art/training-data:latest")
    assert art.logged_by().id == producer
    assert [r.id for r in art.used_by()] == [consumer]
    assert [a.name for a in api.run(f"loopback/art/{consumer}").used_artifacts()] == ["training-data:v0"]
    assert not wandb_server.unknown_operations


def test_log_outputs_logs_file_outputs(wandb_server) -> None:
    flyte.with_runcontext(mode="local", name="outs").run(tasks.with_outputs)
    rows = wandb_server.artifact_lineage()
    assert [(r["artifact"], r["type"], r["files"]) for r in rows] == [
        ("loopback/art/with_outputs-o0:v0", "flyte-file", ["model.bin"])
    ]  # the int output is not an artifact
    assert rows[0]["metadata"]["flyte"]["run_name"] == "outs"
    # An async consumer gets the one-file artifact back as a File with the same bytes.
    (data,) = flyte.with_runcontext(mode="local", name="read").run(tasks.read_model, "with_outputs-o0").outputs()
    assert data == b"\x00weights"
    assert len(wandb_server.artifact_lineage()[0]["used_by"]) == 1


def test_retry_resumes_from_the_checkpoint_into_the_same_run(wandb_server, monkeypatch) -> None:
    tasks.ATTEMPTS.clear()
    monkeypatch.setitem(tasks.FAIL_AT, "step", 5)
    (start,) = flyte.with_runcontext(mode="local", name="resume").run(tasks.train).outputs()
    assert tasks.ATTEMPTS == [(0, None), (5, 4)]  # attempt 2 restored step 4 and went on at 5
    assert start == 5
    (run,) = wandb_server.runs(project="ckpt")  # one W&B run for both attempts
    steps = [row["_step"] for row in run.history]
    assert steps == list(range(tasks.TOTAL_STEPS))  # every step once: none lost, none twice
    versions = [r for r in wandb_server.artifact_lineage() if r["type"] == "checkpoint"]
    assert len(versions) == tasks.TOTAL_STEPS
    latest = [r for r in versions if "latest" in r["aliases"]]
    assert [r["metadata"]["step"] for r in latest] == [tasks.TOTAL_STEPS - 1]
    assert f"step-{tasks.TOTAL_STEPS - 1}" in latest[0]["aliases"]
