"""Offline: artifacts and checkpoints are written to the run files, restored from the local store on
a retry, and uploaded by ``wandb sync`` (checked on the loopback server)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import artifact_tasks as tasks
import flyte
import pytest

from flyteplugins.wandb import WandbConfigError, use_wandb_artifact, wandb_init
from flyteplugins.wandb.testing import read_offline_runs

pytestmark = pytest.mark.integration


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")


def test_outputs_are_recorded_in_the_offline_run(offline, isolated_wandb: Path) -> None:
    flyte.with_runcontext(mode="local", name="off-outs").run(tasks.with_outputs)
    (run,) = read_offline_runs(isolated_wandb / "wandb")
    (art,) = run.artifacts
    assert (art["name"], art["type"], art["files"]) == ("with_outputs-o0", "flyte-file", ["model.bin"])
    assert art["metadata"]["flyte"]["run_name"] == "off-outs"


def test_offline_retry_resumes_and_sync_uploads_checkpoints(
    offline, isolated_wandb: Path, wandb_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")  # the server fixture clears it: this test is offline
    tasks.ATTEMPTS.clear()
    monkeypatch.setitem(tasks.FAIL_AT, "step", 3)
    flyte.with_runcontext(mode="local", name="off-resume").run(tasks.train)
    # Attempt 2 found attempt 1's checkpoint in the local store (same disk) and went on after it.
    assert tasks.ATTEMPTS == [(0, None), (3, 2)]
    runs = read_offline_runs(isolated_wandb / "wandb")
    assert len(runs) == 2 and len({r.id for r in runs}) == 1  # two attempts, one W&B run
    steps = [row["_step"] for r in runs for row in r.history]
    assert steps == list(range(tasks.TOTAL_STEPS))
    saved = [a["metadata"]["step"] for r in runs for a in r.artifacts if a["type"] == "checkpoint"]
    assert saved == list(range(tasks.TOTAL_STEPS))

    # `wandb sync` uploads the run files, artifacts included, once a server is reachable.
    env = {**os.environ, **wandb_server.env()}
    env.pop("WANDB_MODE")
    dirs = sorted(str(p) for p in (isolated_wandb / "wandb").glob("offline-run-*"))
    wandb_cli = [sys.executable, "-c", "import sys; from wandb.cli.cli import cli; sys.exit(cli())"]
    for d in dirs:
        done = subprocess.run([*wandb_cli, "sync", d], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
    versions = [r for r in wandb_server.artifact_lineage() if r["type"] == "checkpoint"]
    assert len(versions) == tasks.TOTAL_STEPS
    assert all(r["state"] == "COMMITTED" and r["files"] == ["state.txt"] for r in versions)
    (latest,) = [r for r in versions if "latest" in r["aliases"]]
    assert latest["metadata"]["step"] == tasks.TOTAL_STEPS - 1
    assert {r["logged_by"] for r in versions} == {runs[0].id}
    assert not wandb_server.unknown_operations


@wandb_init(project="art", mode="offline")
@tasks.env.task
def use_offline() -> str:
    try:
        use_wandb_artifact("ds:latest")
    except WandbConfigError as exc:
        return str(exc)
    return "no error"


def test_use_offline_says_it_needs_a_server(offline) -> None:
    (message,) = flyte.with_runcontext(mode="local", name="use-off").run(use_offline).outputs()
    assert "offline" in message and "use_wandb_artifact" in message
