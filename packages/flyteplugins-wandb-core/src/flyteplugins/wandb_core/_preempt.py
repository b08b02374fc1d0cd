"""SIGTERM (preemption): save what the open runs logged, then let the process end as it would have.

Kubernetes, and Flyte through it, stop a pod with SIGTERM and SIGKILL it after a grace period (30 s
by default); torchrun's agent forwards SIGTERM to its workers, and stops the other ranks with it when
one fails. This is the only SIGTERM path: ``flyteplugins-wandb-distributed`` installs this handler in
torchrun workers rather than one of its own. With Python's default disposition the
process dies at once and wandb's service, which buffers what ``run.log`` sent, dies with it: every
step not yet written is lost and the run never gets a final state.

So, while tracked runs are open, a SIGTERM handler: marks each run preempting (W&B's
``mark_preempting``: the server records it, and a sweep requeues the trial), finishes it with exit
code `PREEMPTED_EXIT_CODE` (which writes and uploads everything logged), all runs in parallel
and within `PREEMPT_TIMEOUT` in total, prints one line, and then calls the handler that was
there before, or, when that was the default, re-raises the signal with the default disposition so
that the process ends exactly as it would have (killed by SIGTERM). Run ids are deterministic and
opened with ``resume="allow"``, so the task's next attempt continues the same run.

Python only lets the main thread install handlers, and Flyte runs sync task bodies in other threads.
So the handler goes in when the registry of open runs (`_state.registry`) gets its first run, where
that happens on the main thread (a plain tracked function; an async task in a pod, whose event loop
is the main thread), and `arm_for_flyte_task()` puts it in when Flyte itself is starting tasks in
this process: Flyte's task entrypoint (``a0``) loading the task's module, or a script run as
``__main__`` that defines tracked tasks (its own ``flyte.run`` follows). Merely importing a module
with tracked tasks (tests, deploy tooling, a notebook) changes nothing. With no run open the handler
only passes the signal on, and it is taken out again when the last run finishes on the main thread.
Where none of this is possible, SIGTERM behaves as before.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from typing import Any

from . import _compat
from ._state import ActiveRun, registry

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
    return threading.current_thread() is threading.main_thread()


def arm(*, keep: bool = False) -> bool:
    """Install the SIGTERM handler when called on the main thread; True when it is installed."""
    global _previous, _installed, _keep
    if not _main_thread():
        return _installed  # signal.signal raises anywhere else
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


def arm_for_flyte_task(module_name: str | None) -> bool:
    """At decoration: arm only where Flyte is about to start tasks in this process (module docstring)."""
    import sys

    starting = module_name == "__main__" or "flyte._bin.runtime" in sys.modules
    # Kept for the process's life: it exists to run tasks, and a run may open off the main thread.
    return arm(keep=True) if starting else False


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
    run = active.run
    try:
        run.mark_preempting()
    except Exception as exc:  # an older wandb, or the service already gone: still finish
        errors[str(active.run_id)] = f"mark_preempting: {type(exc).__name__}: {exc}"
    try:
        from ._globals import real_finish

        real_finish(run, exit_code=PREEMPTED_EXIT_CODE)
    except Exception as exc:
        errors[str(active.run_id)] = f"finish: {type(exc).__name__}: {exc}"


def _hold_logging(run: Any, released: threading.Event) -> None:
    """Make ``run.log`` calls from the still-running task body wait while the process ends.

    Without this the body logs into a run being finished, and wandb's "run is finished" error fails
    the task (a noisy traceback) moments before the process dies anyway. If the process goes on (a
    previous handler that does not exit), the calls proceed once ``released`` is set and raise
    wandb's error: nothing logged after the signal is dropped silently.
    """
    original = run.log

    def held(*args: Any, **kwargs: Any) -> Any:
        released.wait(PREEMPT_TIMEOUT + 5.0)
        return original(*args, **kwargs)

    with contextlib.suppress(Exception):  # a run type that does not take instance attributes
        run.log = held


def preempt_open_runs(
    timeout: float = PREEMPT_TIMEOUT, *, released: threading.Event | None = None
) -> list[str]:
    """Mark every open run preempting and finish it, in parallel, within ``timeout`` seconds in total.

    Returns the ids of runs not confirmed finished in time (their data stays in their directory).
    Called by the SIGTERM handler (which passes ``released``: logging waits until it is set);
    callable directly by code that handles preemption itself.
    """
    from . import _notices, _persist

    runs = [active for active in registry.take_all() if active.run is not None]
    # A handler earlier in the chain (user code that finished a run itself) may have finished some
    # already: those are left as they are.
    runs = [active for active in runs if not _compat.is_finished(active.run)]
    if not runs:
        return []
    if released is not None:
        for active in runs:
            _hold_logging(active.run, released)
    errors: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    threads = []
    for active in runs:
        thread = threading.Thread(
            target=_finish_one, args=(active, errors), name="flyteplugins-wandb-preempt", daemon=True
        )
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    late = [str(a.run_id) for a, t in zip(runs, threads, strict=True) if t.is_alive()]
    ids = ", ".join(str(a.run_id) for a in runs)
    problems = [f"{run_id} not confirmed within {timeout:.0f}s" for run_id in late]
    problems += [f"{run_id}: {why}" for run_id, why in errors.items()]
    tail = f" ({'; '.join(problems)})" if problems else ""
    _notices.notice(
        f"SIGTERM: marked run(s) {ids} preempting and finished them with exit code "
        f"{PREEMPTED_EXIT_CODE}{tail}; the task's next attempt resumes the same run(s)."
    )
    for active in runs:
        run_dir = _run_dir(active)
        if run_dir and (active.offline or str(active.run_id) in late) and active.primary:
            _persist.persist_run(
                str(active.run_id),
                run_dir,
                sync_id=active.sync_id,
                online_dir=not active.offline,
                timeout=_persist.PREEMPT_UPLOAD_TIMEOUT,
            )
            _notices.offline_run_saved(str(active.run_id), run_dir, sync_id=active.sync_id, others_open=True)
    _notices.flush_pending()
    return late


def _run_dir(active: ActiveRun) -> str | None:
    run_dir = getattr(active.run, "dir", None)
    return os.path.dirname(str(run_dir)) if run_dir else None


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
