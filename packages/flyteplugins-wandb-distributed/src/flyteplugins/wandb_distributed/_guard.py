"""Finish a rank's open runs as failed when torchrun tears the worker group down.

When one rank fails, the torchrun/Elastic agent stops every other worker with SIGTERM, whose default
action ends the process at once: a run still open there would keep no exit code and lose whatever the
wandb service had not yet flushed. A SIGTERM handler, installed only in torchrun workers, finishes
those runs with a failing exit code and then lets the signal take its previous course.

Python runs signal handlers in the main thread only and only the main thread may install them, so the
handler is installed when an Elastic task is decorated in a worker (usually at import, in the main
thread) or when a run opens in the main thread (Flyte's Elastic launcher calls the task there).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import weakref
from collections.abc import Mapping
from types import FrameType
from typing import Any

from flyteplugins.wandb_core.ext import FAILED_EXIT_CODE, ActiveRun, run_is_finished, world_size

# torchrun waits 30 s after SIGTERM before SIGKILL; finishing must fit well inside that.
FINISH_GRACE_S = 10.0

_runs: weakref.WeakSet[Any] = weakref.WeakSet()
_lock = threading.Lock()
_installed = False
_previous: Any = None


def _is_torchrun_worker(env: Mapping[str, str]) -> bool:
    return world_size(env) > 1 and "RANK" in env


def install_guard(env: Mapping[str, str] | None = None) -> bool:
    """Install the SIGTERM handler once, in a torchrun worker's main thread. Returns whether it is on."""
    global _installed, _previous
    if _installed:
        return True
    if not _is_torchrun_worker(os.environ if env is None else env):
        return False
    if threading.current_thread() is not threading.main_thread():
        return False
    with _lock:
        if _installed:
            return True
        try:
            previous = signal.getsignal(signal.SIGTERM)
            signal.signal(signal.SIGTERM, _on_sigterm)
        except (ValueError, OSError):  # not the main interpreter / signals unavailable
            return False
        _previous = previous
        _installed = True
    return True


def on_run_open(active: ActiveRun) -> None:
    """Core hook (``RankHandler.on_run_open``): a run opened on this rank."""
    if active.run is not None:
        _runs.add(active.run)
    install_guard()


def _finish_open_runs() -> list[str]:
    runs = [run for run in list(_runs) if not run_is_finished(run)]
    finished = []
    for run in runs:
        worker = threading.Thread(target=_finish_quietly, args=(run,), daemon=True)
        worker.start()
        worker.join(FINISH_GRACE_S)
        finished.append(str(getattr(run, "id", "?")))
    return finished


def _finish_quietly(run: Any) -> None:
    with contextlib.suppress(Exception):  # the process is going down either way
        run.finish(exit_code=FAILED_EXIT_CODE)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    finished = _finish_open_runs()
    if finished:
        print(
            f"wandb: SIGTERM: finished run(s) {', '.join(finished)} as failed.", file=sys.stderr, flush=True
        )
    previous = _previous
    if callable(previous):
        previous(signum, frame)
        return
    if previous == signal.SIG_IGN:
        return
    # Default action: end the process by the same signal, as if this handler had not been there.
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
