"""SIGTERM (preemption): save what the open runs logged, then let the process end as it would have.

While tracked runs are open, the handler marks each run preempting, finishes it with exit code
`PREEMPTED_EXIT_CODE` within `PREEMPT_TIMEOUT`, prints one line and passes the signal on (the
previous handler, else the default disposition). When it goes in: docs/architecture.md.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from typing import Any

from . import _compat, _notices, _persist
from ._globals import real_finish
from ._state import ActiveRun, registry, run_dir

# Seconds for flushing and finishing every open run: well under Kubernetes' 30 s grace period.
PREEMPT_TIMEOUT = 10.0
# What a process killed by SIGTERM reports (128 + 15); a non-zero code after mark_preempting makes
# W&B treat the run as preempted rather than finished.
PREEMPTED_EXIT_CODE = 128 + int(signal.SIGTERM)

# Reentrant: the handler runs on the main thread, possibly while that thread holds the lock.
_lock = threading.RLock()
_previous: Any = None
_installed = False
_keep = False  # installed at decoration time: stays installed, passing signals on when idle


def _main_thread() -> bool:
    # Python lets only the main thread install handlers (signal.signal raises anywhere else).
    return threading.current_thread() is threading.main_thread()


def arm(*, keep: bool = False) -> bool:
    """Install the SIGTERM handler when called on the main thread; True when it is installed."""
    global _previous, _installed, _keep
    if not _main_thread():
        return _installed
    with _lock:
        if _installed:
            _keep = _keep or keep
            return True
        try:
            current = signal.getsignal(signal.SIGTERM)
            if current is signal.SIG_IGN:
                return False  # SIGTERM does not end this process: nothing to save runs from
            signal.signal(signal.SIGTERM, _on_sigterm)
        except (ValueError, OSError):  # a sub-interpreter, or a platform without SIGTERM handlers
            return False
        _previous, _installed, _keep = current, True, keep
    return True


def arm_for_flyte_task(module_name: str | None) -> None:
    """At decoration: arm only where Flyte is about to start tasks in this process.

    That is Flyte's task entrypoint loading the task's module, or a script run as ``__main__`` (its
    own ``flyte.run`` follows); merely importing a module with tracked tasks changes nothing.
    """
    if module_name == "__main__" or "flyte._bin.runtime" in sys.modules:
        # Kept for the process's life: it exists to run tasks, and a run may open off the main thread.
        arm(keep=True)


def disarm() -> None:
    """Take the handler out again once no run is open (only possible on the main thread)."""
    global _installed
    if not _main_thread():
        return
    with _lock:
        if not _installed or _keep or not registry.is_empty():
            return
        try:
            if signal.getsignal(signal.SIGTERM) is _on_sigterm:  # not replaced by someone since
                signal.signal(signal.SIGTERM, _previous if _previous is not None else signal.SIG_DFL)
        except (ValueError, OSError):
            return
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
    """Make the still-running body's ``run.log`` calls wait, not fail on the finished run, until ``released``.

    If the process goes on, they then raise wandb's error: nothing logged after the signal is lost silently.
    """
    original = run.log

    def held(*args: Any, **kwargs: Any) -> Any:
        released.wait(PREEMPT_TIMEOUT + 5.0)
        return original(*args, **kwargs)

    with contextlib.suppress(Exception):  # a run type that does not take instance attributes
        run.log = held


def preempt_open_runs(timeout: float = PREEMPT_TIMEOUT, *, released: threading.Event | None = None) -> list[str]:
    """Mark every open run preempting and finish it, in parallel, within ``timeout`` seconds in total.

    Returns the ids of runs not confirmed finished in time (their data stays in their directory).
    Called by the SIGTERM handler (which passes ``released``: logging waits until it is set);
    callable directly by code that handles preemption itself.
    """
    # A handler earlier in the chain (user code that finished a run itself) may have finished some.
    runs = [a for a in registry.take_all() if a.run is not None and not _compat.is_finished(a.run)]
    if not runs:
        return []
    errors: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    threads = []
    for active in runs:
        if released is not None:
            _hold_logging(active.run, released)
        thread = threading.Thread(
            target=_finish_one, args=(active, errors), name="flyteplugins-wandb-preempt", daemon=True
        )
        thread.start()
        threads.append(thread)
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
        folder = run_dir(active.run)
        if folder and (active.offline or str(active.run_id) in late) and active.primary:
            _persist.persist_run(
                str(active.run_id),
                folder,
                sync_id=active.sync_id,
                online_dir=not active.offline,
                timeout=_persist.PREEMPT_UPLOAD_TIMEOUT,
            )
            _notices.offline_run_saved(str(active.run_id), folder, sync_id=active.sync_id, others_open=True)
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
    # The default disposition (or a handler set outside Python): end the process as SIGTERM would
    # have, so the exit status (killed by signal 15) is what Flyte and Kubernetes expect. Held log
    # calls stay held: the process ends before they would run into the finished run.
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    released.set()  # only reached where the signal did not end the process (it was blocked)


def _after_fork_in_child() -> None:
    # A forked child (multiprocessing) inherits the parent's handler and run list, but not its
    # runs: its SIGTERM must not finish the parent's runs.
    global _lock
    _lock = threading.RLock()
    registry.forget_all()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
