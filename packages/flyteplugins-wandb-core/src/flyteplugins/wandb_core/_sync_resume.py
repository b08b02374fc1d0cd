"""Sync one stored run folder again after an upload that was cut off, without sending a row twice.

``wandb sync`` of a folder whose run already exists on W&B appends: it continues the run's history
at the line count the server reports and sends every history record in the folder. A sync killed in
the middle of a folder's upload (the machine went away, Ctrl-C, a lost connection) has put the first
rows of that folder on the server; sending the folder again whole would repeat them.

So before a folder's first upload, a ``<folder>.syncing`` marker goes into the store beside it with
the number of history rows the W&B run held then (0 for the first part of a run, read from W&B for
a later part: a retry attempt's folder, a fail-open copy). When a later sync finds that marker (the
upload did not end with its ``.synced`` marker), the rows the run holds beyond that number are the
ones that landed: the folder is sent with that many of its first history records left out of its
transaction log. Each step then reaches W&B exactly once, however often the sync is cut off.

An online run folder whose upload W&B never confirmed is treated as cut off from the start: W&B
holds the rows it took before the pod lost its connection.

Only history rows are counted: a cut-off part's console lines and system metrics sent before the cut
may show twice.
"""

from __future__ import annotations

import glob
import json
import os
import signal
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator
from typing import Any

from ._offline import _BLOCK, _FIRST, _FULL, _HEADER_LEN, _LAST, _MIDDLE, _RECORD_HEADER, _payloads

__all__ = ["SYNCING_SUFFIX", "prepare_upload"]

SYNCING_SUFFIX = ".syncing"
DEFAULT_TIMEOUT = 600.0  # seconds one call to W&B (a folder's upload, a query) may take

# In a process of its own, as for publishing a sweep: wandb.Api logs in process-wide.
_HISTORY_ROWS = """
import json, sys, wandb
spec = json.load(sys.stdin)
path = "/".join(p for p in (spec["entity"], spec["project"], spec["id"]) if p)
try:
    run = wandb.Api().run(path)
except wandb.errors.CommError as exc:
    if "could not find run" not in str(exc).lower():
        raise
    print("rows:0")  # not on W&B yet
else:
    print("rows:" + str(int(run.historyLineCount or 0)))
"""


def run_wandb(
    args: list[str], timeout: float, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command that talks to W&B; raises TimeoutError when it has not ended within ``timeout`` s."""
    # wandb retries a server that does not answer for a very long time. A session of its own, so that
    # the kill also reaches the wandb-core service the command started.
    pipe = subprocess.PIPE
    with subprocess.Popen(
        args, stdin=pipe, stdout=pipe, stderr=pipe, text=True, env=env, start_new_session=True
    ) as proc:
        try:
            out, err = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise TimeoutError(f"W&B did not answer within {timeout:g} s") from None
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def history_rows_on_wandb(run_id: str, project: str, entity: str, timeout: float = DEFAULT_TIMEOUT) -> int:
    """How many history rows W&B holds for the run (0 when it does not exist); raises when unreachable."""
    payload = json.dumps({"id": run_id, "project": project, "entity": entity})
    env = {**os.environ, "WANDB_SILENT": "true"}
    proc = run_wandb([sys.executable, "-c", _HISTORY_ROWS], timeout, payload, env)
    found = [line for line in proc.stdout.splitlines() if line.startswith("rows:")]
    if proc.returncode != 0 or not found:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-2:]
        raise RuntimeError(f"reading run {run_id!r} from W&B exited {proc.returncode}: {' | '.join(tail)}")
    return int(found[-1][len("rows:") :])


def _framed(payloads: Iterator[bytes], header: bytes) -> bytes:
    """A transaction log holding ``payloads``, framed as wandb writes it (LevelDB's log format)."""
    out = bytearray(header)
    for payload in payloads:
        rest, first = payload, True
        while True:
            left = _BLOCK - len(out) % _BLOCK
            if left < _RECORD_HEADER:
                out += b"\0" * left  # a block's tail too short for a record header
                continue
            chunk, rest = rest[: left - _RECORD_HEADER], rest[left - _RECORD_HEADER :]
            last = not rest
            rtype = (_FULL if last else _FIRST) if first else (_LAST if last else _MIDDLE)
            crc = zlib.crc32(bytes([rtype]) + chunk) & 0xFFFFFFFF
            out += struct.pack("<IHB", crc, len(chunk), rtype) + chunk
            first = False
            if last:
                break
    return bytes(out)


def drop_first_history_rows(run_dir: str, count: int) -> int:
    """Rewrite the run's transaction log without its first ``count`` history records; returns how many
    it dropped (fewer when the log holds fewer)."""
    from ._compat import record_class

    [log] = glob.glob(os.path.join(glob.escape(run_dir), "run-*.wandb"))
    with open(log, "rb") as src:
        data = src.read()
    record = record_class()
    dropped = 0

    def kept() -> Iterator[bytes]:
        nonlocal dropped
        for payload in _payloads(data):
            if dropped < count:
                rec = record()
                rec.ParseFromString(payload)
                if rec.WhichOneof("record_type") == "history":
                    dropped += 1
                    continue
            yield payload

    framed = _framed(kept(), data[:_HEADER_LEN])
    with open(log, "wb") as dst:
        dst.write(framed)
    return dropped


def read_marker(fs: Any, uri: str) -> int | None:
    """The W&B run's history rows before the folder's first upload (its ``.syncing`` marker), or None."""
    try:
        return int(json.loads(fs.cat_file(uri))["history_before"])
    except FileNotFoundError:
        return None


def prepare_upload(
    fs: Any,
    uri: str,
    local_dir: str,
    *,
    run_id: str,
    first_part: bool,
    online: bool,
    project: str | None,
    entity: str | None,
    timeout: float = DEFAULT_TIMEOUT,
) -> int:
    """Make the downloaded folder ``local_dir`` (stored at ``uri``) safe to upload; returns how many
    history rows were left out because W&B already holds them.

    Args:
        fs: The store's file system (fsspec).
        uri: The folder in the store (its marker goes beside it).
        local_dir: The folder as downloaded; its transaction log is rewritten when rows are left out.
        run_id: The W&B run the folder is uploaded to.
        first_part: No earlier part of this W&B run (another attempt's folder, an online session a
            fail-open copy continues) can be on W&B: the run held 0 rows before this folder.
        online: An online run's folder whose upload W&B never confirmed.
        project: The W&B project it goes to (default: the one in the folder).
        entity: The W&B entity it goes to (default: the one in the folder, else the key's default).
        timeout: Seconds a query to W&B may take.
    """
    from ._offline import read_offline_run

    marker = f"{uri}{SYNCING_SUFFIX}"

    def rows_now() -> int:
        run = read_offline_run(local_dir)
        return history_rows_on_wandb(run_id, project or run.project, entity or run.entity, timeout)

    before = read_marker(fs, marker)
    if before is None:
        before = 0 if first_part else rows_now()
        fs.pipe_file(marker, json.dumps({"history_before": before}).encode())
        if not (online and first_part):
            return 0  # nothing of this folder has been sent yet
    landed = rows_now() - before
    return drop_first_history_rows(local_dir, landed) if landed > 0 else 0
