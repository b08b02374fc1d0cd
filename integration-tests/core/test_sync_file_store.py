"""`flyte wandb sync` from a store on a file system (a raw-data path on a shared volume).

The cluster tests sync from S3 (moto); fsspec's local file system copies a folder *into* an existing
target folder, which S3 downloads do not, so the folder a sync downloads must not exist beforehand.
A rerun after a sync that stopped halfway (here: W&B never answered) reads the folder it downloaded.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import flyte
import pytest
from wandb_loopback import LoopbackServer

from flyteplugins.wandb import get_wandb_run, wandb_init
from flyteplugins.wandb_core import _persist
from flyteplugins.wandb_core.sync import list_stored_runs, sync_offline_runs

env = flyte.TaskEnvironment(name="sync_file_store_it")
ROWS = 7


@wandb_init(project="fs-store", mode="offline")
@env.task
def logs_rows() -> str:
    run = get_wandb_run()
    for i in range(ROWS):
        run.log({"i": i})
    return str(run.id)


def test_a_sync_stopped_halfway_is_completed_by_the_next_one_from_a_file_system_store(
    wandb_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "store"
    # Flyte's local mode keeps runs in ./wandb: place this action in the store as a pod's would be.
    monkeypatch.setattr(_persist, "location", lambda: _persist.Location(str(store), "fs-run", "a0", 0))
    run_id = flyte.with_runcontext(mode="local", name="fs-run").run(logs_rows).outputs()[0]
    shutil.rmtree(wandb_dir)  # the pod is gone: only the store has the run
    [stored] = list_stored_runs("fs-run", store=str(store))

    with socket.create_server(("127.0.0.1", 0), backlog=128) as silent:  # accepts, never answers
        monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{silent.getsockname()[1]}")
        monkeypatch.setenv("WANDB_API_KEY", "a" * 40)
        hung = sync_offline_runs("fs-run", store=str(store), progress=False, timeout=3)
    assert list(hung.failed) == [stored.uri] and "did not answer" in hung.failed[stored.uri]

    with LoopbackServer() as server:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        report = sync_offline_runs("fs-run", store=str(store), progress=False, timeout=120)
        assert report.ok and len(report.synced) == 1, report.failed
        again = sync_offline_runs("fs-run", store=str(store), progress=False, timeout=120)
        assert not again.synced and again.ok  # a second sync uploads nothing
        [run] = server.runs()
    assert run.id == run_id and len(run.history_lines) == ROWS and run.state == "finished"
