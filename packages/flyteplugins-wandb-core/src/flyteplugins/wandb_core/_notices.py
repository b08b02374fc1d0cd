"""The plugin's ``wandb:`` lines on stderr, and the one ``wandb sync`` line for a process's offline runs.

Concurrent tasks finish at the same moment in one process, so each notice is written as one whole
line with a single ``write`` under a lock (``print`` writes the text and the newline separately, and
two notices could merge into one line).

Offline runs: a newcomer's workflow often writes several (a pipeline run and its ``run_mode="new"``
children). Rather than one ``wandb sync`` line per run, the plugin collects the directories of runs
finished while another tracked run of the process is still open, and prints one line that uploads
them all when the last open run finishes (normally the top-level task's), or at interpreter exit for
whatever is still pending.
"""

from __future__ import annotations

import atexit
import sys
import threading

_write_lock = threading.Lock()
_pending_lock = threading.Lock()
# (run id, run directory) of finished offline runs whose sync line is not printed yet.
_pending: list[tuple[str, str]] = []


def notice(message: str) -> None:
    """Print ``wandb: <message>`` on stderr as one line (Flyte's local mode shows stderr)."""
    line = "wandb: " + " ".join(message.splitlines()) + "\n"
    with _write_lock:
        stream = sys.stderr
        try:
            stream.write(line)
            stream.flush()
        except (OSError, ValueError):  # stderr closed (interpreter shutdown): nothing to tell
            pass


_said: set[str] = set()


def notice_once(key: str, message: str) -> None:
    """`notice` the first time ``key`` is seen in this process (a loop calling wandb.finish says it once)."""
    with _pending_lock:
        if key in _said:
            return
        _said.add(key)
    notice(message)


def sync_command(run_dirs: list[str], *, online: bool = False, sync_id: str | None = None) -> str:
    """The ``wandb sync`` command line that uploads ``run_dirs`` (absolute: it works from any folder)."""
    parts = ["wandb sync"]
    if online:
        parts.append("--include-online")  # wandb sync skips directories of online runs otherwise
    if sync_id:
        parts.append(f"--id {sync_id}")
    parts.extend(run_dirs)
    return " ".join(parts)


def offline_run_saved(run_id: str, run_dir: str, *, sync_id: str | None, others_open: bool) -> None:
    """Record a finished offline run; print the sync line now unless other tracked runs are still open.

    A run with ``sync_id`` (an offline copy of a run whose online start failed) needs ``--id``, which
    names one run, so its line is printed on its own at once.
    """
    if sync_id:
        notice(
            f"run {run_id} saved offline in {run_dir}; upload it with: "
            f"{sync_command([run_dir], sync_id=sync_id)}"
        )
        return
    with _pending_lock:
        _pending.append((run_id, run_dir))
    if not others_open:
        flush_pending()


def flush_pending() -> None:
    """Print one line that uploads every offline run collected so far."""
    with _pending_lock:
        runs = list(dict.fromkeys(_pending))
        _pending.clear()
    if not runs:
        return
    dirs = [d for _, d in runs]
    if len(runs) == 1:
        run_id, run_dir = runs[0]
        notice(f"run {run_id} saved offline in {run_dir}; upload it with: {sync_command(dirs)}")
        return
    ids = ", ".join(run_id for run_id, _ in runs)
    notice(f"{len(runs)} runs saved offline ({ids}); upload them all with: {sync_command(dirs)}")


atexit.register(flush_pending)
