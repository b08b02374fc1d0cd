"""SIGTERM (preemption): finish the open runs as preempted, then pass the signal on (docs/architecture.md)."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from typing import Any

from . import _compat, _notices, _persist
from ._globals import real_finish
from ._state import ActiveRun, registry, run_dir

PREEMPT_TIMEOUT = 10.0  # seconds for finishing every open run: well under Kubernetes' 30 s grace period
# What a process killed by SIGTERM reports; non-zero after mark_preempting, W&B shows the run preempted.
PREEMPTED_EXIT_CODE = 128 + int(signal.SIGTERM)

# Reentrant: the handler runs on the main thread, possibly while that thread holds the lock.
_lock = threading.RLock()
_previous: Any = None
_installed = False
_keep = False  # installed at decoration time: stays installed, passing signals on when idle


def arm(*, keep: bool = False) -> bool:
    """Install the SIGTERM handler (only the main thread can); True when it is installed."""
    global _previous, _installed, _keep
    if threading.current_thread() is not threading.main_thread():  # signal.signal raises anywhere else
        return _installed
    with _lock:
        if _installed:
            _keep = _keep or keep
            return True
        # Not where SIGTERM is ignored (it does not end this process), in a sub-interpreter or without SIGTERM handlers.
        with contextlib.suppress(ValueError, OSError):
            if (current := signal.getsignal(signal.SIGTERM)) is not signal.SIG_IGN:
                signal.signal(signal.SIGTERM, _on_sigterm)
                _previous, _installed, _keep = current, True, keep
        return _installed


def disarm() -> None:
    global _installed
    if threading.current_thread() is not threading.main_thread():
        return
    with _lock:
        if not _installed or _keep or registry.runs():
            return
        with contextlib.suppress(ValueError, OSError):
            if signal.getsignal(signal.SIGTERM) is _on_sigterm:  # not replaced by someone since
                signal.signal(signal.SIGTERM, _previous if _previous is not None else signal.SIG_DFL)
            _installed = False


def _finish_one(active: ActiveRun, errors: dict[str, str]) -> None:
    try:
        active.run.mark_preempting()
    except Exception as exc:  # an older wandb, or the service already gone: still finish
        errors[str(active.run_id)] = f"mark_preempting: {type(exc).__name__}: {exc}"
    try:
        real_finish(active.run, exit_code=PREEMPTED_EXIT_CODE)
    except Exception as exc:
        errors[str(active.run_id)] = f"finish: {type(exc).__name__}: {exc}"


def _hold_logging(run: Any, released: threading.Event) -> None:
    # The body's run.log calls wait until `released`, then raise wandb's error: nothing is lost silently.
    original = run.log

    def held(*args: Any, **kwargs: Any) -> Any:
        released.wait(PREEMPT_TIMEOUT + 5.0)
        return original(*args, **kwargs)

    with contextlib.suppress(Exception):  # a run type that does not take instance attributes
        run.log = held


def preempt_open_runs(timeout: float = PREEMPT_TIMEOUT, *, released: threading.Event | None = None) -> list[str]:
    """Finish every open run as preempted within ``timeout``; returns the ids not confirmed in time."""
    # A handler earlier in the chain (user code that finished a run itself) may have finished some.
    runs = [a for a in registry.take_all() if a.run is not None and not _compat.is_finished(a.run)]
    if not runs:
        return []
    errors: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    threads = [threading.Thread(target=_finish_one, args=(a, errors), name="flyteplugins-wandb-preempt") for a in runs]
    for active, thread in zip(runs, threads, strict=True):
        if released is not None:
            _hold_logging(active.run, released)
        thread.daemon = True
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    late = [str(a.run_id) for a, t in zip(runs, threads, strict=True) if t.is_alive()]
    problems = [f"{run_id} not confirmed within {timeout:.0f}s" for run_id in late]
    problems += [f"{run_id}: {why}" for run_id, why in errors.items()]
    tail = f" ({'; '.join(problems)})" if problems else ""
    _notices.notice(
        f"SIGTERM: marked run(s) {', '.join(str(a.run_id) for a in runs)} preempting and finished them "
        f"with exit code {PREEMPTED_EXIT_CODE}{tail}; the task's next attempt resumes the same run(s)."
    )
    for active in runs:
        folder, run_id, timeout = run_dir(active.run), str(active.run_id), _persist.PREEMPT_UPLOAD_TIMEOUT
        if folder and (active.offline or run_id in late) and active.primary:
            _persist.persist_run(run_id, folder, sync_id=active.sync_id, online_dir=not active.offline, timeout=timeout)
            _notices.offline_run_saved(run_id, folder, sync_id=active.sync_id, others_open=True)
    _notices.flush_pending()
    return late


def _on_sigterm(signum: int, frame: Any) -> None:
    released = threading.Event()
    previous = _previous
    try:
        preempt_open_runs(released=released)
        if callable(previous):
            released.set()  # the process may go on: held log calls proceed (and raise)
            previous(signum, frame)
            return
    except BaseException:
        released.set()
        raise
    # The default disposition: end the process as SIGTERM would have (the exit status Flyte expects).
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    released.set()  # only reached where the signal did not end the process (it was blocked)


def _after_fork_in_child() -> None:
    # A forked child inherits the parent's handler and run list, not its runs: its SIGTERM must not finish them.
    global _lock
    _lock = threading.RLock()
    registry.forget_all()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
