"""An offline run's finish waits until wandb-core has written the run's exit record to disk.

Files here are real W&B transaction logs (wandb's own protobuf records, framed as wandb-core frames
them), so the reader's block handling is exercised without starting wandb.
"""

from __future__ import annotations

import struct
import threading
import zlib
from pathlib import Path

import pytest

from flyteplugins.wandb_core import _offline
from flyteplugins.wandb_core._compat import record_class

_BLOCK = 32 * 1024


def _frame(payload: bytes, offset: int) -> bytes:
    """``payload`` as one or more chunks (FULL, or FIRST/MIDDLE/LAST across blocks) from ``offset``."""
    out = b""
    first = True
    while True:
        left = _BLOCK - (offset % _BLOCK)
        if left < 7:  # block trailer: zero padding
            out += b"\0" * left
            offset += left
            continue
        take = min(len(payload), left - 7)
        chunk, payload = payload[:take], payload[take:]
        last = not payload
        rtype = 1 if first and last else 2 if first else 4 if last else 3
        out += struct.pack("<IHB", zlib.crc32(bytes([rtype]) + chunk) & 0xFFFFFFFF, len(chunk), rtype) + chunk
        offset += 7 + len(chunk)
        first = False
        if last:
            return out


def _record(kind: str, i: int = 0) -> bytes:
    rec = record_class()()
    if kind == "history":
        item = rec.history.item.add()
        item.key, item.value_json = "s", str(i)
    elif kind == "exit":
        rec.exit.exit_code = 0
    else:
        rec.run.run_id = "r1"
    return bytes(rec.SerializeToString())


def _log(path: Path, kinds: list[tuple[str, int]], *, append: bool = False) -> None:
    data = path.read_bytes() if append else b":W&B\xe1\xbe\x00"
    for kind, i in kinds:
        data += _frame(_record(kind, i), len(data))
    path.write_bytes(data)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    d = tmp_path / "offline-run-20260101_000000-r1"
    d.mkdir()
    return d


def test_a_long_run_is_complete_only_with_its_exit_record_last(run_dir: Path) -> None:
    path = run_dir / "run-r1.wandb"
    # Several blocks of history, with records crossing block boundaries: only the tail is read.
    _log(path, [("run", 0)] + [("history", i) for i in range(6000)])
    assert path.stat().st_size > 3 * _BLOCK
    assert not _offline.exit_recorded(path)
    _log(path, [("exit", 0)], append=True)
    assert _offline.exit_recorded(path)
    run = _offline.read_offline_run(path)
    assert run.metric("s") == list(range(6000)) and run.exit_code == 0


def test_the_wait_returns_once_the_writer_adds_the_exit_record(run_dir: Path) -> None:
    path = run_dir / "run-r1.wandb"
    _log(path, [("run", 0), ("history", 0)])
    # Stands in for wandb-core writing the last records after run.finish() returned (wandb 0.30.0).
    writer = threading.Timer(0.3, _log, (path, [("history", 1), ("exit", 0)]), {"append": True})
    writer.start()
    try:
        assert _offline.wait_until_written(run_dir, timeout=30)
    finally:
        writer.join()
    assert _offline.read_offline_run(path).metric("s") == [0, 1]


def test_a_run_never_finished_on_disk_gives_up_after_the_timeout(run_dir: Path) -> None:
    _log(run_dir / "run-r1.wandb", [("run", 0), ("history", 0)])
    assert not _offline.wait_until_written(run_dir, timeout=0.1)
    assert not _offline.wait_until_written(run_dir.parent / "missing", timeout=0)
