"""Read offline W&B runs back from their transaction logs (``offline-run-*/run-*.wandb``) without a server."""

from __future__ import annotations

import collections
import contextlib
import glob
import json
import struct
import time
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_HEADER = b":W&B"
_HEADER_LEN = 7  # magic (4) + ident (2) + version (1)
_BLOCK = 32 * 1024
_RECORD_HEADER = 7  # crc32 (4) + length (2) + type (1)
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


@dataclass
class OfflineRun:
    """What one offline run file holds, named as on ``wandb.Run`` (``name``: the display name, or empty)."""

    path: Path
    id: str
    project: str = ""
    entity: str = ""
    group: str = ""
    job_type: str = ""
    name: str = ""
    tags: list[str] = field(default_factory=list)
    notes: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    exit_code: int | None = None
    resumed: bool = False  # continues the run: the SDK said so, or an earlier part of this run id lies beside it
    sweep_id: str = ""
    base_url: str = ""
    files: list[str] = field(default_factory=list)
    # Logged artifacts, in order: {"name", "type", "aliases", "metadata", "files"} (files: manifest paths).
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    # ``define_metric`` calls, in order: name (or glob_name for a pattern) and step_metric.
    metrics: list[dict[str, str]] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        """Deprecated: the run id, now `id` (as on ``wandb.Run``)."""
        message = "OfflineRun.run_id is deprecated; use OfflineRun.id (the run id, as on wandb.Run)"
        warnings.warn(message, DeprecationWarning, stacklevel=2)
        return self.id

    @property
    def finished(self) -> bool:
        return self.exit_code is not None

    @property
    def preempted(self) -> bool:
        """A SIGTERM cut the run short (core finished it with exit code 128 + SIGTERM): not a failure."""
        from ._preempt import PREEMPTED_EXIT_CODE  # lazily: _preempt loads the run registry

        return self.exit_code == PREEMPTED_EXIT_CODE

    def metric(self, key: str) -> list[Any]:
        """Every logged value of ``key``, in order."""
        return [row[key] for row in self.history if key in row]


def _payloads(data: bytes, base: int = 0) -> Iterator[bytes]:
    """The records in ``data``, the file's bytes from offset ``base`` (0, or a block boundary)."""
    if base == 0:
        if len(data) < _HEADER_LEN:
            return  # the writer has created the file but not yet written its header
        if not data.startswith(_HEADER):
            raise ValueError("not a W&B transaction log (bad header)")
    pos, pending = (_HEADER_LEN, b"") if base == 0 else (0, None)  # None: skipping a record begun before base
    while pos + _RECORD_HEADER <= len(data):
        left_in_block = _BLOCK - ((base + pos) % _BLOCK)
        fits = left_in_block >= _RECORD_HEADER
        crc, length, rtype = struct.unpack("<IHB", data[pos : pos + _RECORD_HEADER] if fits else bytes(7))
        if length == 0 and rtype == 0:  # zero padding, or a block's tail too short for a record header
            pos += left_in_block
            continue
        chunk = data[pos + _RECORD_HEADER : pos + _RECORD_HEADER + length]
        if len(chunk) < length or zlib.crc32(bytes([rtype]) + chunk) & 0xFFFFFFFF != crc:
            break  # a truncated tail: the writer was killed mid-record
        pos += _RECORD_HEADER + length
        if rtype == _FULL:
            yield chunk
        elif rtype == _FIRST:
            pending = chunk
        elif rtype == _MIDDLE and pending is not None:
            pending += chunk
        elif rtype == _LAST:
            if pending is not None:
                yield pending + chunk
            pending = b""


def _framed(payloads: Iterator[bytes], header: bytes) -> bytes:
    """A transaction log holding ``payloads``, framed as wandb writes it (LevelDB's log format)."""
    out = bytearray(header)
    for payload in payloads:
        rest, first = payload, True
        while first or rest:
            left = _BLOCK - len(out) % _BLOCK
            if left < _RECORD_HEADER:
                out += b"\0" * left  # a block's tail too short for a record header
                continue
            chunk, rest = rest[: left - _RECORD_HEADER], rest[left - _RECORD_HEADER :]
            rtype = (_FULL if not rest else _FIRST) if first else (_LAST if not rest else _MIDDLE)
            out += struct.pack("<IHB", zlib.crc32(bytes([rtype]) + chunk) & 0xFFFFFFFF, len(chunk), rtype) + chunk
            first = False
    return bytes(out)


def _value(value_json: str) -> Any:
    with contextlib.suppress(ValueError):
        return json.loads(value_json)
    return value_json


def _items(items: Any) -> dict[str, Any]:
    return {item.key or "/".join(item.nested_key): _value(item.value_json) for item in items}


def _config(items: Any) -> dict[str, Any]:  # wandb stores each config value as {"value": ...} (and "desc" if given)
    return {k: v.get("value", v) if isinstance(v, dict) else v for k, v in _items(items).items()}


def _records(data: bytes, base: int = 0) -> Iterator[tuple[bytes, Any]]:
    from ._compat import record_class

    record = record_class()
    for payload in _payloads(data, base):
        rec = record()
        rec.ParseFromString(payload)
        yield payload, rec


def read_offline_run(path: str | Path) -> OfflineRun:
    """Parse one ``run-<id>.wandb`` file (or the ``offline-run-*`` directory holding it)."""
    if (p := Path(path)).is_dir():
        if not (found := sorted(p.glob("run-*.wandb"))):
            raise FileNotFoundError(f"no run-*.wandb file in {p}")
        p = found[0]
    run = OfflineRun(path=p, id=p.stem[len("run-") :])
    for _, rec in _records(p.read_bytes()):
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            r = rec.run
            run.id = r.run_id or run.id
            run.project, run.entity, run.group = r.project, r.entity, r.run_group
            run.job_type, run.name, run.notes = r.job_type, r.display_name, r.notes
            run.tags, run.sweep_id, run.resumed = list(r.tags), r.sweep_id, r.resumed
            run.config.update(_config(r.config.update))
        elif kind == "config":
            run.config.update(_config(rec.config.update))
            for item in rec.config.remove:
                run.config.pop(item.key, None)
        elif kind == "history":
            run.history.append(_items(rec.history.item))
        elif kind == "summary":
            run.summary.update(_items(rec.summary.update))
            for item in rec.summary.remove:
                run.summary.pop(item.key, None)
        elif kind == "exit":
            run.exit_code = rec.exit.exit_code
        elif kind == "metric":
            run.metrics.append({"name": rec.metric.name or rec.metric.glob_name, "step_metric": rec.metric.step_metric})
        elif kind == "files":
            run.files.extend(f.path for f in rec.files.files)
        elif kind == "artifact":
            a = rec.artifact
            meta = _value(a.metadata) if a.metadata else {}
            files = [e.path for e in a.manifest.contents]
            run.artifacts.append(dict(name=a.name, type=a.type, aliases=list(a.aliases), metadata=meta, files=files))
    run.config.pop("_wandb", None)
    # Offline, every part has the same run record: a retry is told by an earlier folder of its run id beside it.
    here = p.parent
    if not run.resumed and here.name.startswith("offline-run-") and run.id:
        run.resumed = any(
            other.name < here.name and other.name.split("-", 3)[-1] == run.id and has_transaction_log(other)
            for other in here.parent.glob(f"offline-run-*-{glob.escape(run.id)}")
        )
    return run


def read_offline_runs(root: str | Path = "wandb", *, wait: float = 5.0) -> list[OfflineRun]:
    """Parse every offline run under ``root`` (a ``wandb/`` directory), oldest first, waiting up to ``wait`` s
    for each to show its exit record (wandb-core writes the log asynchronously, after ``run.finish()``)."""
    deadline = time.monotonic() + wait
    while True:
        runs = [read_offline_run(p) for p in sorted(Path(root).glob("offline-run-*/run-*.wandb"))]
        if all(r.finished for r in runs) or time.monotonic() >= deadline:
            return runs
        time.sleep(0.05)


def exit_recorded(path: str | Path) -> bool:
    """The run file's last complete record is its exit record; reads only the last two blocks (any run length)."""
    with open(path, "rb") as f:
        base = max(0, (f.seek(0, 2) // _BLOCK - 1) * _BLOCK)
        f.seek(base)
        last = collections.deque(_records(f.read(), base), maxlen=1)
    return bool(last) and last[0][1].WhichOneof("record_type") == "exit"


def wait_until_written(run_dir: str | Path, timeout: float) -> bool:
    """Wait up to ``timeout`` s for the run in ``run_dir`` to have its exit record on disk (False: it did not);
    wandb (0.30 among others) returns from an offline ``run.finish()`` while wandb-core still writes."""
    deadline = time.monotonic() + timeout
    while Path(run_dir).is_dir():  # else deleted while the run was open: nothing will be written there
        with contextlib.suppress(Exception):  # not created yet, or a record half-written: look again
            if exit_recorded(sorted(Path(run_dir).glob("run-*.wandb"))[0]):
                return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return False


def has_transaction_log(run_dir: str | Path) -> bool:
    return any(Path(run_dir).glob("run-*.wandb"))


def runs_by_id(root: str | Path = "wandb", *, wait: float = 5.0) -> dict[str, list[OfflineRun]]:
    """Offline runs grouped by run id (a resumed or retried run has several files)."""
    out: dict[str, list[OfflineRun]] = {}
    for run in read_offline_runs(root, wait=wait):
        out.setdefault(run.id, []).append(run)
    return out
