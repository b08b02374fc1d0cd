"""A stored run folder whose upload was cut off is sent again without the rows W&B already took.

The transaction logs here are wandb's own protobuf records in the framing wandb-core writes (block
boundaries crossed by long records); the store is fsspec's in-memory file system. What W&B holds is
the one fake: a number (the integration test in integration-tests/cluster/test_persist_on_cluster.py
runs the whole path against the loopback server and a real S3 store).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import fsspec
import pytest

from flyteplugins.wandb_core import _offline, sync
from flyteplugins.wandb_core._compat import record_class

HEADER = b":W&B\xe1\xbe\x00"


def _payload(kind: str, i: int = 0) -> bytes:
    rec = record_class()()
    if kind == "history":
        item = rec.history.item.add()
        # Every third row is long: records then cross the 32 KiB blocks (FIRST/MIDDLE/LAST chunks).
        item.key, item.value_json = "s", json.dumps(f"{i}:" + "x" * (70_000 if i % 3 == 0 else 10))
    elif kind == "summary":
        item = rec.summary.update.add()
        item.key, item.value_json = "last", str(i)
    elif kind == "exit":
        rec.exit.exit_code = 0
    else:
        rec.run.run_id, rec.run.project = "r1", "proj"
    return bytes(rec.SerializeToString())


def _write_run(run_dir: Path, rows: int) -> Path:
    run_dir.mkdir(parents=True)
    payloads = [_payload("run")] + [_payload("history", i) for i in range(rows)]
    payloads += [_payload("summary", rows - 1), _payload("exit")]
    path = run_dir / "run-r1.wandb"
    path.write_bytes(sync._framed(iter(payloads), HEADER))
    return path


def _steps(run_dir: Path) -> list[int]:
    return [int(row["s"].split(":")[0]) for row in _offline.read_offline_run(run_dir).history]


def test_dropping_the_first_rows_keeps_every_other_record(tmp_path: Path) -> None:
    run_dir = tmp_path / "offline-run-20260101_000000-r1"
    log = _write_run(run_dir, 7)
    assert log.stat().st_size > 6 * 32 * 1024
    before = log.read_bytes()
    assert sync.drop_first_history_rows(str(run_dir), 0) == 0
    assert log.read_bytes() == before  # the framing is wandb's: nothing dropped, the same bytes

    assert sync.drop_first_history_rows(str(run_dir), 4) == 4
    run = _offline.read_offline_run(run_dir)
    assert _steps(run_dir) == [4, 5, 6]
    assert run.id == "r1" and run.project == "proj" and run.summary == {"last": 6} and run.exit_code == 0
    # More than the log holds: every row goes, the rest stays.
    assert sync.drop_first_history_rows(str(run_dir), 10) == 3
    assert _steps(run_dir) == [] and _offline.read_offline_run(run_dir).exit_code == 0


@pytest.fixture
def store() -> fsspec.AbstractFileSystem:
    return fsspec.filesystem("memory")


def _prepare(store: fsspec.AbstractFileSystem, run_dir: Path, uri: str, **kwargs: object) -> int:
    args: dict = {"run_id": "r1", "first_part": True, "online": False, "project": None, "entity": None}
    return sync.prepare_upload(store, uri, str(run_dir), **{**args, **kwargs})


def _on_wandb(monkeypatch: pytest.MonkeyPatch, rows: int | None) -> list[tuple[str, str, str]]:
    asked: list[tuple[str, str, str]] = []

    def fake(run_id: str, project: str, entity: str, timeout: float = 0) -> int:
        if rows is None:
            raise AssertionError("W&B was asked, though nothing of the folder can be there")
        asked.append((run_id, project, entity))
        return rows

    monkeypatch.setattr(sync, "history_rows_on_wandb", fake)
    return asked


def _marker(store: fsspec.AbstractFileSystem, uri: str) -> dict:
    return json.loads(store.cat_file(uri + sync.SYNCING_SUFFIX))


def test_a_first_upload_notes_where_it_starts_and_sends_everything(
    tmp_path: Path, store: fsspec.AbstractFileSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_path / "offline-run-20260101_000000-r1"
    _write_run(run_dir, 5)
    uri = f"memory://{uuid.uuid4().hex}/a0/0/{run_dir.name}"
    _on_wandb(monkeypatch, None)  # the run's first part: W&B held nothing before it, no question asked
    assert _prepare(store, run_dir, uri) == 0
    assert _marker(store, uri) == {"history_before": 0} and _steps(run_dir) == [0, 1, 2, 3, 4]

    # A later part (a retry attempt) starts after the rows the run holds on W&B.
    later = tmp_path / "later" / run_dir.name
    _write_run(later, 2)
    asked = _on_wandb(monkeypatch, 5)
    assert _prepare(store, later, uri + "-1", first_part=False, project="other") == 0
    assert asked == [("r1", "other", "")] and _marker(store, uri + "-1") == {"history_before": 5}


def test_an_upload_cut_off_is_sent_again_without_the_rows_that_landed(
    tmp_path: Path, store: fsspec.AbstractFileSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_path / "offline-run-20260101_000000-r1"
    _write_run(run_dir, 6)
    uri = f"memory://{uuid.uuid4().hex}/a0/1/{run_dir.name}"
    store.pipe_file(uri + sync.SYNCING_SUFFIX, b'{"history_before": 3}')
    _on_wandb(monkeypatch, 3 + 4)  # 3 rows of earlier parts, then 4 of this one before the cut
    assert _prepare(store, run_dir, uri, first_part=False) == 4
    assert _steps(run_dir) == [4, 5]
    assert _marker(store, uri) == {"history_before": 3}  # kept for the next cut


def test_an_unconfirmed_online_folder_skips_what_wandb_took_before_the_pod_lost_it(
    tmp_path: Path, store: fsspec.AbstractFileSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_path / "run-20260101_000000-r1"
    _write_run(run_dir, 6)
    uri = f"memory://{uuid.uuid4().hex}/a0/0/{run_dir.name}"
    _on_wandb(monkeypatch, 2)
    assert _prepare(store, run_dir, uri, online=True) == 2
    assert _steps(run_dir) == [2, 3, 4, 5] and _marker(store, uri) == {"history_before": 0}


def _write_steps(run_dir: Path, steps: list[int]) -> None:
    """A run file whose history rows carry ``_step`` as wandb writes it (a nested key), one long row
    crossing the 32 KiB blocks."""
    rec = record_class()
    payloads = [_payload("run")]
    for step in steps:
        row = rec()
        for key, value in (("pad", "x" * (70_000 if step == steps[0] else 1)), ("_step", step)):
            item = row.history.item.add()
            item.nested_key.append(key)
            item.value_json = json.dumps(value)
        payloads.append(bytes(row.SerializeToString()))
    run_dir.mkdir(parents=True)
    (run_dir / "run-r1.wandb").write_bytes(sync._framed(iter([*payloads, _payload("exit")]), HEADER))


def test_a_later_attempts_first_step_is_read_from_the_store_and_rows_from_it_on_are_left_out(
    tmp_path: Path, store: fsspec.AbstractFileSystem
) -> None:
    uri = f"memory://{uuid.uuid4().hex}/a0/1/offline-run-20260101_000000-r1"
    later = tmp_path / "later"
    _write_steps(later, [3, 4, 5])
    store.put(str(later), uri, recursive=True)
    assert sync.first_history_step(store, uri) == 3
    empty = tmp_path / "empty"
    _write_steps(empty, [])
    store.put(str(empty), uri + "-empty", recursive=True)
    assert sync.first_history_step(store, uri + "-empty") is None

    earlier = tmp_path / "earlier"
    _write_steps(earlier, [0, 1, 2, 3, 4])
    assert sync.drop_history_from_step(str(earlier), 3) == 2
    run = _offline.read_offline_run(earlier)
    assert [row["_step"] for row in run.history] == [0, 1, 2] and run.exit_code == 0
    # A later part whose first steps an earlier sync already uploaded (up to step 3): they go.
    assert sync.drop_history_to_step(str(later), 3) == 1
    assert [row["_step"] for row in _offline.read_offline_run(later).history] == [4, 5]
