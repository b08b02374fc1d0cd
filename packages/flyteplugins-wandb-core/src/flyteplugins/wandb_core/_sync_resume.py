"""Send a stored run folder again after a cut-off upload without repeating a history row, and the
processes that ask W&B (under a timeout). How it works is in docs/deploy.md.
"""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

from ._offline import _HEADER_LEN, _framed, _items, _payloads, read_offline_run

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
    args: list[str],
    timeout: float,
    what: str,
    stdin: str = "",
    env: dict[str, str] | None = None,
    lines: int = 3,
    answer: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command that talks to W&B; raises TimeoutError when it has not ended within ``timeout`` s,
    RuntimeError (``<what> exited <code>: <its last lines>``) when it failed or printed no ``answer``."""
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
    if proc.returncode != 0 or (answer is not None and not any(x.startswith(answer) for x in out.splitlines())):
        tail = (err or out).strip().splitlines()[-lines:]
        raise RuntimeError(f"{what} exited {proc.returncode}: {' | '.join(tail)}")
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def ask_wandb(
    script: str, payload: dict[str, Any], key: str, what: str, timeout: float, lines: int = 3, **env: str
) -> str:
    """Run ``script`` in a Python process of its own, ``payload`` on stdin; what it printed after ``key:``."""
    args, stdin = [sys.executable, "-c", script], json.dumps(payload)
    proc = run_wandb(args, timeout, what, stdin, {**os.environ, **env} if env else None, lines, f"{key}:")
    return [line for line in proc.stdout.splitlines() if line.startswith(f"{key}:")][-1][len(key) + 1 :]


def history_rows_on_wandb(run_id: str, project: str, entity: str, timeout: float = DEFAULT_TIMEOUT) -> int:
    """How many history rows W&B holds for the run (0 when it does not exist); raises when unreachable."""
    payload = {"id": run_id, "project": project, "entity": entity}
    what = f"reading run {run_id!r} from W&B"
    return int(ask_wandb(_HISTORY_ROWS, payload, "rows", what, timeout, 2, WANDB_SILENT="true"))


def _drop_history(run_dir: str, leave_out: Callable[[int, Any], bool]) -> int:
    """Rewrite the run's transaction log without the history records for which ``leave_out(index,
    _step)`` is true (index: the record's place among the history records); returns how many went."""
    from ._compat import record_class

    [log] = glob.glob(os.path.join(glob.escape(run_dir), "run-*.wandb"))
    with open(log, "rb") as src:
        data = src.read()
    record = record_class()
    seen = dropped = 0

    def kept() -> Iterator[bytes]:
        nonlocal seen, dropped
        for payload in _payloads(data):
            rec = record()
            rec.ParseFromString(payload)
            if rec.WhichOneof("record_type") == "history":
                seen += 1
                if leave_out(seen - 1, _items(rec.history.item).get("_step")):
                    dropped += 1
                    continue
            yield payload

    framed = _framed(kept(), data[:_HEADER_LEN])
    with open(log, "wb") as dst:
        dst.write(framed)
    return dropped


def drop_first_history_rows(run_dir: str, count: int) -> int:
    """Rewrite the run's transaction log without its first ``count`` history records; returns how many
    it dropped (fewer when the log holds fewer)."""
    return _drop_history(run_dir, lambda index, _: index < count) if count > 0 else 0


def drop_history_from_step(run_dir: str, step: int) -> int:
    """Rewrite the run's transaction log without its history rows at ``step`` and after; returns how
    many it dropped. The offline counterpart of a rewind: a later attempt logs those steps again."""
    return _drop_history(run_dir, lambda _, s: isinstance(s, int) and s >= step)


def drop_history_to_step(run_dir: str, step: int) -> int:
    """Rewrite the run's transaction log without its history rows up to ``step``; returns how many it
    dropped (the rows W&B holds from an earlier sync that cannot be rewound any more)."""
    return _drop_history(run_dir, lambda _, s: isinstance(s, int) and s <= step)


def first_history_step(fs: Any, uri: str) -> int | None:
    """The ``_step`` of the first history row of the run folder stored at ``uri`` (None: no rows).

    Reads the stored run file from its start, only as far as that row."""
    from ._compat import record_class

    logs = sorted(str(k) for k in fs.find(uri) if str(k).endswith(".wandb"))
    if not logs:
        return None
    record, data, size = record_class(), b"", 64 * 1024
    with fs.open(logs[0], "rb") as f:
        while True:
            chunk = f.read(size)
            data += chunk
            for payload in _payloads(data):  # complete records only: a cut one waits for more bytes
                rec = record()
                rec.ParseFromString(payload)
                if rec.WhichOneof("record_type") == "history":
                    step = _items(rec.history.item).get("_step")
                    return step if isinstance(step, int) else None
            if not chunk:
                return None
            size *= 2


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
    """Leave out of the downloaded folder ``local_dir`` (stored at ``uri``) the history rows W&B already
    holds; returns how many. ``first_part``: no earlier part of this W&B run can be on W&B; ``online``:
    an online run's folder whose upload W&B never confirmed."""
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


def all_rows_on_wandb(
    fs: Any, uri: str, local_dir: str, run_id: str, project: str | None, entity: str | None, timeout: float
) -> bool:
    """Whether W&B holds every history row of the folder as uploaded, despite wandb sync's error: a log
    cut in a half-written record (a full disk) can never be completed, so failing it would fail every
    later sync; an upload W&B refused (a wrong key) leaves the run short of rows, or unreadable."""
    try:
        folder = read_offline_run(local_dir)  # as uploaded: without the rows an earlier cut-off sync sent
        before = read_marker(fs, f"{uri}{SYNCING_SUFFIX}") or 0
        held = history_rows_on_wandb(run_id, project or folder.project, entity or folder.entity, timeout)
    except Exception:
        return False
    return held > 0 and held >= before + len(folder.history)
