"""The plugin's ``wandb:`` lines on stderr, and the one ``wandb sync`` line for a process's offline runs."""

from __future__ import annotations

import atexit
import contextlib
import sys
import threading

_write_lock = threading.Lock()
_pending_lock = threading.Lock()
# (run id, run directory) of finished offline runs whose sync line is not printed yet.
_pending: list[tuple[str, str]] = []
_said: set[str] = set()


def notice(message: str) -> None:  # print wandb: <message> on stderr as one line (Flyte's local mode shows stderr)
    line = "wandb: " + " ".join(message.splitlines()) + "\n"
    # One write under a lock (print writes text and newline separately); stderr may be closed at shutdown.
    with _write_lock, contextlib.suppress(OSError, ValueError):
        sys.stderr.write(line)
        sys.stderr.flush()


def notice_once(key: str, message: str) -> None:  # once per key and process: a loop calling wandb.finish says it once
    with _pending_lock:
        if key in _said:
            return
        _said.add(key)
    notice(message)


def sync_command(run_dirs: list[str], *, online: bool = False, sync_id: str | None = None) -> str:
    options = ["--include-online"] if online else []  # wandb sync skips online runs' folders otherwise
    if sync_id:
        options.append(f"--id {sync_id}")
    return " ".join(["wandb sync", *options, *run_dirs])


def offline_run_saved(run_id: str, run_dir: str, *, sync_id: str | None, others_open: bool) -> None:
    """Record a finished offline run; one sync line once no run is open (a ``sync_id`` run's line at once)."""
    if sync_id:
        notice(f"run {run_id} saved offline in {run_dir}; upload it with: {sync_command([run_dir], sync_id=sync_id)}")
        return
    with _pending_lock:
        _pending.append((run_id, run_dir))
    if not others_open:
        flush_pending()


def flush_pending() -> None:
    with _pending_lock:
        runs = list(dict.fromkeys(_pending))
        _pending.clear()
    dirs = [d for _, d in runs]
    if len(runs) == 1:
        notice(f"run {runs[0][0]} saved offline in {runs[0][1]}; upload it with: {sync_command(dirs)}")
    elif runs:
        ids = ", ".join(run_id for run_id, _ in runs)
        notice(f"{len(runs)} runs saved offline ({ids}); upload them all with: {sync_command(dirs)}")


atexit.register(flush_pending)
