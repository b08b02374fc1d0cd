"""Which W&B run belongs to the running code.

A contextvar holds the current scope's run: Flyte runs concurrent async children as separate asyncio
tasks and sync task bodies in threads with copied contextvars, so each child sees only its own run,
and ``@flyte.trace`` bodies see their task's. A process-wide registry of open runs lets a child in the
same process (local mode) reuse its parent's run object instead of opening a second one.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ActiveRun:
    """A run as seen by one tracked scope."""

    run: Any  # wandb Run, or None when this rank/scope does not log
    run_id: str | None
    primary: bool
    plan: Any = None
    offline: bool = False
    # True where this scope opened the run (and so finishes it); a reusing child's scope is False.
    owner: bool = False
    # A disabled stand-in run after every wandb.init attempt failed: nothing to upload or sync.
    untracked: bool = False
    # The id the `wandb sync` hint names, for a run that fell back to offline under a changed id.
    sync_id: str | None = None
    # W&B did not confirm the upload within finish_timeout: the data is only on local disk.
    upload_incomplete: bool = False
    # download_logs=True and the run finished uploading: the wrapper downloads its files.
    download_requested: bool = False
    # A SIGTERM handler already flushed and finished the run as preempted.
    preempted: bool = False
    # A ``report=True`` task's collector (`_report.Collector`) of the runs its tab shows.
    report: Any = None
    # While a sweep trial's run opens beside its body (`_early.PendingOpen`); None once open.
    pending: Any = None


# The scope's run together with the Flyte task data dict it was opened in (see `_task_data`).
_current: ContextVar[tuple[ActiveRun, Any] | None] = ContextVar(
    "flyteplugins_wandb_current_run", default=None
)

# Set by a sweep launcher around one trial: wandb.init arguments (id, config, group, ...) that the next
# tracked scope uses for its own run. The scope consumes them, so nested scopes are unaffected.
_trial: ContextVar[dict[str, Any] | None] = ContextVar("flyteplugins_wandb_trial", default=None)


TRIAL_HANDLE_KEY = "__trial_handle__"


@dataclass
class TrialHandle:
    """What a sweep launcher learns about the trial run opened inside `trial_scope()`.

    ``on_open`` (set by the launcher) is called with the wandb run right after it opens, before the
    objective's body runs. ``summary`` is the run's final summary, as ``finish`` fetched it (or a
    snapshot taken just before finishing, where wandb keeps none: a finished run's summary is no
    longer readable).
    """

    on_open: Callable[[Any], None] | None = None
    run_id: str | None = None
    offline: bool = False
    run_dir: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    opened: bool = False

    def _opened(self, active: ActiveRun) -> None:
        self.opened = True
        self.run_id = active.run_id
        self.offline = active.offline
        run = active.run
        if run is not None and getattr(run, "dir", None):
            self.run_dir = os.path.dirname(str(run.dir))
        if run is not None and self.on_open is not None:
            self.on_open(run)

    def _closing(self, active: ActiveRun) -> None:
        run = active.run
        if run is None:
            return
        from . import _compat

        if _compat.keeps_final_summary(run):
            return  # read in _closed(), from what finish fetched anyway: one service round trip fewer
        self._read_summary(run)

    def _closed(self, active: ActiveRun) -> None:
        """After ``finish``: the final summary wandb kept (or, when finish stopped early, the live one)."""
        run = active.run
        if run is None:
            return
        from . import _compat

        if not _compat.keeps_final_summary(run):
            return  # read in _closing()
        final = _compat.final_summary(run)
        if final is not None:
            self.summary = final
        elif not _compat.is_finished(run):  # finish failed before it finished: still readable
            self._read_summary(run)

    def _read_summary(self, run: Any) -> None:
        try:
            self.summary = dict(run.summary)
        except Exception:  # a summary we cannot read must not fail the trial
            self.summary = {}


@contextmanager
def trial_scope(**init_overrides: Any) -> Iterator[TrialHandle]:
    """Make the next ``@wandb_init`` scope in this context open a sweep-trial run with these arguments.

    ``settings`` (a dict of ``wandb.Settings`` fields, e.g. ``{"sweep_id": ...}``) is merged into the
    run's settings; everything else goes to ``wandb.init``. Yields a `TrialHandle`.
    """
    handle = TrialHandle()
    token = _trial.set({**init_overrides, TRIAL_HANDLE_KEY: handle})
    try:
        yield handle
    finally:
        _trial.reset(token)


# The same overrides for a trial that runs as a Flyte task of its own, possibly in another pod: the
# sweep controller writes them as JSON into the trial action's custom_context. A trial's own run
# blanks the key for its children, so only the trial action itself reads it.
TRIAL_CONTEXT_KEY = "_wandb_sweep_trial"


def take_trial_overrides(custom_context: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """The trial overrides for this scope: the in-process ones first, else the task's context key."""
    overrides = _trial.get()
    if overrides is not None:
        _trial.set(None)
        return overrides
    raw = (custom_context or {}).get(TRIAL_CONTEXT_KEY)
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return dict(value) if isinstance(value, dict) else None


class _Registry:
    """Open runs in this process, keyed by run id, with a count of scopes using each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, tuple[Any, int]] = {}

    def add(self, run_id: str, run: Any) -> None:
        with self._lock:
            self._runs[run_id] = (run, 1)

    def acquire(self, run_id: str) -> Any | None:
        with self._lock:
            entry = self._runs.get(run_id)
            if entry is None:
                return None
            self._runs[run_id] = (entry[0], entry[1] + 1)
            return entry[0]

    def release(self, run_id: str) -> None:
        with self._lock:
            entry = self._runs.get(run_id)
            if entry is not None and entry[1] > 1:
                self._runs[run_id] = (entry[0], entry[1] - 1)

    def remove(self, run_id: str) -> None:
        with self._lock:
            self._runs.pop(run_id, None)

    def newest(self) -> Any | None:
        """The most recently opened run still open (dicts keep insertion order)."""
        with self._lock:
            return next(reversed(self._runs.values()))[0] if self._runs else None

    def contains(self, run_id: str | None) -> bool:
        with self._lock:
            return run_id is not None and run_id in self._runs


registry = _Registry()


LEGACY_RUN_KEY = "_wandb_run"


def _task_data() -> Any:
    """The running Flyte task's ``ctx.data`` dict (None outside a task), as an identity token.

    Each task attempt gets a dict of its own and ``@flyte.trace`` bodies share their task's, so it
    tells "the task that opened this scope" apart from an untracked child task, which inherits the
    contextvar (local mode copies contextvars into children) but not the dict.
    """
    import flyte

    ctx = flyte.ctx()
    return getattr(ctx, "data", None) if ctx else None


def current() -> ActiveRun | None:
    """The innermost tracked scope's run, possibly an ancestor task's (what wandb.log routes to)."""
    entry = _current.get()
    return entry[0] if entry is not None else None


def set_current(active: ActiveRun | None) -> Any:
    return _current.set(None if active is None else (active, _task_data()))


def reset_current(token: Any) -> None:
    _current.reset(token)


def get_wandb_run() -> Any | None:
    """The W&B run of the calling task or function, or ``None``.

    ``None`` outside a ``@wandb_init`` scope (including in a child task without ``@wandb_init``,
    even below a tracked parent), and on distributed ranks that do not log.
    """
    entry = _current.get()
    if entry is None:
        # 2.12 kept the run in the task's ctx.data; code (and tests) that put one there still find it.
        data = _task_data()
        found = data.get(LEGACY_RUN_KEY) if isinstance(data, dict) else None
        return found
    active, opened_in = entry
    if opened_in is not _task_data():
        return None  # an untracked task below a tracked one: it has no run of its own
    return active.run


def get_wandb_run_dir() -> str | None:
    """Local directory of the current run's files (``run.dir``), or ``None`` without a run."""
    run = get_wandb_run()
    if run is None:
        return None
    return str(run.dir)
