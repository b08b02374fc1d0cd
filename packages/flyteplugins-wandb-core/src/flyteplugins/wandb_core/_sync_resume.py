"""Resend a stored run folder after a cut-off upload without repeating a history row (see docs/deploy.md), and
the processes that ask W&B, under a timeout."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from ._offline import _HEADER_LEN, _framed, _items, _records, read_offline_run

SYNCING_SUFFIX = ".syncing"
DEFAULT_TIMEOUT = 600.0  # seconds one call to W&B (a folder's upload, a query) may take

# In a process of its own, as for publishing a sweep: wandb.Api logs in process-wide.
_HISTORY_ROWS = """
import json, sys, wandb
spec = json.load(sys.stdin)
try:
    run = wandb.Api().run("/".join(p for p in (spec["entity"], spec["project"], spec["id"]) if p))
    print("rows:" + str(int(run.historyLineCount or 0)))
except wandb.errors.CommError as exc:
    if "could not find run" not in str(exc).lower():
        raise
    print("rows:0")  # not on W&B yet
"""


def run_wandb(
    args: list[str], timeout: float, what: str, stdin: str = "", lines: int = 3, answer: str = "", **env: str
) -> tuple[str, str]:
    """Run a command that talks to W&B, with ``env`` added; returns its stdout and stderr. Raises TimeoutError
    after ``timeout`` s (wandb retries a silent server for very long), RuntimeError (``<what> exited <code>: <its
    last lines>``) when it failed or printed no line starting with ``answer``."""
    # A session of its own: the kill also reaches the wandb-core service the command started.
    pipe = subprocess.PIPE
    with subprocess.Popen(
        args, stdin=pipe, stdout=pipe, stderr=pipe, text=True, env={**os.environ, **env}, start_new_session=True
    ) as proc:
        try:
            out, err = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise TimeoutError(f"W&B did not answer within {timeout:g} s") from None
    if proc.returncode != 0 or (answer and not any(x.startswith(answer) for x in out.splitlines())):
        tail = (err or out).strip().splitlines()[-lines:]
        raise RuntimeError(f"{what} exited {proc.returncode}: {' | '.join(tail)}")
    return out, err


def ask_wandb(
    script: str, payload: dict[str, Any], key: str, what: str, timeout: float, lines: int = 3, **env: str
) -> str:
    """Run ``script`` in a Python process of its own, ``payload`` on stdin; what it printed after ``key:``."""
    out, _ = run_wandb([sys.executable, "-c", script], timeout, what, json.dumps(payload), lines, f"{key}:", **env)
    return [line for line in out.splitlines() if line.startswith(f"{key}:")][-1][len(key) + 1 :]


def history_rows_on_wandb(run_id: str, project: str, entity: str, timeout: float = DEFAULT_TIMEOUT) -> int:
    """How many history rows W&B holds for the run (0 when it does not exist); raises when unreachable."""
    payload = {"id": run_id, "project": project, "entity": entity}
    what = f"reading run {run_id!r} from W&B"
    return int(ask_wandb(_HISTORY_ROWS, payload, "rows", what, timeout, 2, WANDB_SILENT="true"))


def _drop_history(run_dir: str, leave_out: Callable[[int, Any], bool]) -> int:
    """Rewrite the run's transaction log without the history records for which ``leave_out(index among
    them, _step)`` is true; returns how many went."""
    [log] = glob.glob(os.path.join(glob.escape(run_dir), "run-*.wandb"))
    with open(log, "rb") as src:
        data = src.read()
    kept, rows, dropped = [], 0, 0
    for payload, rec in _records(data):
        if rec.WhichOneof("record_type") == "history":
            rows += 1
            if leave_out(rows - 1, _items(rec.history.item).get("_step")):
                dropped += 1
                continue
        kept.append(payload)
    with open(log, "wb") as dst:
        dst.write(_framed(iter(kept), data[:_HEADER_LEN]))
    return dropped


def drop_first_history_rows(run_dir: str, count: int) -> int:
    """Drop the run log's first ``count`` history rows; returns how many (fewer when it holds fewer)."""
    return _drop_history(run_dir, lambda index, _: index < count) if count > 0 else 0


def drop_history_from_step(run_dir: str, step: int) -> int:
    """Drop the run log's history rows from ``step`` on (a later attempt logs them again); returns how many."""
    return _drop_history(run_dir, lambda _, s: isinstance(s, int) and s >= step)


def drop_history_to_step(run_dir: str, step: int) -> int:
    """Drop the run log's history rows up to ``step`` (an earlier sync sent them); returns how many."""
    return _drop_history(run_dir, lambda _, s: isinstance(s, int) and s <= step)


def first_history_step(fs: Any, uri: str) -> int | None:
    """The ``_step`` of the first history row of the run folder stored at ``uri`` (None: no rows), read
    from the stored run file's start only as far as that row."""
    logs = sorted(str(k) for k in fs.find(uri) if str(k).endswith(".wandb"))
    if not logs:
        return None
    data, size = b"", 64 * 1024
    with fs.open(logs[0], "rb") as f:
        while True:
            chunk = f.read(size)
            data += chunk
            for _, rec in _records(data):  # complete records only: a cut one waits for more bytes
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
