"""The running code's W&B run (scope, open runs, trial overrides), and process facts core and its siblings share."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import flyte

from ._config import RUN_ID_KEY

FAILED_EXIT_CODE = 1  # a run's exit code when its task failed (or its rank was torn down)
OFFLINE_MODES = ("offline", "disabled", "dryrun")  # wandb modes that send nothing to a server
DEFAULT_API_URL = "https://api.wandb.ai"  # where wandb sends API calls when nothing else names a server
DEFAULT_HOST = "https://wandb.ai"  # W&B cloud's UI (links)


def world_size(env: Mapping[str, str] | None = None) -> int:
    """``WORLD_SIZE`` as torchrun sets it; 1 when unset or not an integer (treated as not distributed)."""
    with contextlib.suppress(ValueError):
        return int((os.environ if env is None else env).get("WORLD_SIZE", "1"))
    return 1


def netrc_has_entry(url: str | None) -> bool:  # a ~/.netrc entry exists for url's host (what wandb login writes)
    import netrc
    from urllib.parse import urlparse

    host = urlparse(url or "").hostname
    with contextlib.suppress(netrc.NetrcParseError, OSError):  # no ~/.netrc, or one netrc cannot read
        return bool(host and netrc.netrc().authenticators(host))
    return False


def api_base_url(host: str | None) -> str | None:
    """The wandb API base URL for a UI host (W&B cloud serves the API from another host)."""
    if host is None:
        return None
    host = host.rstrip("/")
    return DEFAULT_API_URL if host in ("https://wandb.ai", "http://wandb.ai") else host


class WandbServer(NamedTuple):  # the API base URL for a host (None: wandb picks); a ~/.netrc login for it
    api_url: str | None
    has_credentials: bool


def wandb_server(host: str | None) -> WandbServer:
    """Where W&B is for the UI host ``host``, and whether ``wandb login`` left credentials for it (for the API
    host, else ``WANDB_BASE_URL``, else W&B cloud); ``WANDB_API_KEY`` is the caller's to read."""
    api_url = api_base_url(host)
    return WandbServer(api_url, netrc_has_entry(api_url or os.environ.get("WANDB_BASE_URL") or DEFAULT_API_URL))


@dataclass
class ActiveRun:
    run: Any  # wandb Run, or None when this rank/scope does not log
    run_id: str | None
    primary: bool
    plan: Any = None
    offline: bool = False
    owner: bool = False  # this scope opened the run (and so finishes it)
    untracked: bool = False  # a disabled stand-in after every wandb.init attempt failed
    sync_id: str | None = None  # the id `wandb sync` files a run under that fell back offline with another
    download_requested: bool = False
    preempted: bool = False  # the SIGTERM handler finished it already
    requested_exit_code: int | None = None  # the first non-zero one the scope's code finished it with
    report: Any = None  # a ``report=True`` task's `_report.Collector`
    pending: Any = None  # while a sweep trial's run opens beside its body (`_concurrency.PendingOpen`)

    @property
    def raises(self) -> bool:  # on_error="raise": a W&B failure fails the task
        return getattr(self.plan, "on_error", "continue") == "raise"


def run_dir(run: Any) -> str | None:
    return os.path.dirname(str(run.dir)) if getattr(run, "dir", None) else None


class Forward:  # forwards attribute access to _target(), resolved at each use
    __slots__ = ()
    _target: Callable[[], Any]  # each subclass's method

    def __getattr__(self, key: str) -> Any:
        return getattr(self._target(), key)

    def __setattr__(self, key: str, value: Any) -> None:
        setattr(self._target(), key, value)

    def __delattr__(self, key: str) -> None:
        delattr(self._target(), key)

    def __repr__(self) -> str:
        return repr(self._target())


class ForwardItems(Forward):
    __slots__ = ()

    def __getitem__(self, key: str) -> Any:
        return self._target()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._target()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._target()[key]

    def __contains__(self, key: object) -> bool:
        return key in self._target()

    def __iter__(self) -> Iterator[str]:
        return iter(self._target())

    def __len__(self) -> int:
        return len(self._target().keys())


# The scope's run together with the Flyte task data dict it was opened in (see `_task_data`).
_current: ContextVar[tuple[ActiveRun, Any] | None] = ContextVar("flyteplugins_wandb_current_run", default=None)
# A sweep launcher's wandb.init overrides for the next tracked scope, which consumes them.
_trial: ContextVar[dict[str, Any] | None] = ContextVar("flyteplugins_wandb_trial", default=None)
TRIAL_HANDLE_KEY = "__trial_handle__"


@dataclass
class TrialHandle:
    """The trial run opened inside `trial_scope()`: ``on_open(run)`` runs before the body; ``summary`` is final."""

    on_open: Callable[[Any], None] | None = None
    run_id: str | None = None
    offline: bool = False
    run_dir: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    opened: bool = False

    def _opened(self, active: ActiveRun) -> None:
        self.opened, self.run_id, self.offline = True, active.run_id, active.offline
        if active.run is not None:
            self.run_dir = run_dir(active.run)
            if self.on_open is not None:
                self.on_open(active.run)

    def _closing(self, active: ActiveRun) -> None:
        from . import _compat  # loads with the first run, not at import

        # Where finish keeps the summary it fetched, _closed reads that; a finished run's summary is unreadable.
        if active.run is not None and not _compat.keeps_final_summary(active.run):
            self._read_summary(active.run)

    def _closed(self, active: ActiveRun) -> None:
        from . import _compat

        run = active.run
        if run is None or not _compat.keeps_final_summary(run):
            return
        if (final := _compat.final_summary(run)) is not None:
            self.summary = final
        elif not _compat.is_finished(run):  # finish failed before it finished: still readable
            self._read_summary(run)

    def _read_summary(self, run: Any) -> None:
        with contextlib.suppress(Exception):  # a summary we cannot read must not fail the trial (it stays {})
            self.summary = dict(run.summary)


@contextlib.contextmanager
def trial_scope(**init_overrides: Any) -> Iterator[TrialHandle]:
    """Make the next ``@wandb_init`` scope in this context open a sweep-trial run with these ``wandb.init``
    arguments (``settings``, a dict, is merged into the run's settings). Yields a `TrialHandle`."""
    handle = TrialHandle()
    token = _trial.set({**init_overrides, TRIAL_HANDLE_KEY: handle})
    try:
        yield handle
    finally:
        _trial.reset(token)


# The same overrides as JSON in a trial action's custom_context (its run blanks the key for its children).
TRIAL_CONTEXT_KEY = "_wandb_sweep_trial"


def trial_context(**init_overrides: Any) -> dict[str, str]:
    """`trial_scope()` for a trial that is a Flyte action of its own: ``custom_context`` keys that make its
    ``@wandb_init`` scope open the trial run with these overrides (not as a child of the caller's run)."""
    return {TRIAL_CONTEXT_KEY: json.dumps(init_overrides), RUN_ID_KEY: ""}


def take_trial_overrides(custom_context: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """The in-process trial overrides, else the task's context key."""
    if (overrides := _trial.get()) is not None:
        _trial.set(None)
        return overrides
    with contextlib.suppress(ValueError):  # not JSON: no overrides
        value = json.loads((custom_context or {}).get(TRIAL_CONTEXT_KEY) or "null")
        return dict(value) if isinstance(value, dict) else None
    return None


class OpenRuns:  # runs open in this process: the first installs the routes and SIGTERM handler, the last ends them
    def __init__(self) -> None:
        # Reentrant: the SIGTERM handler runs on the main thread, possibly while it holds the lock.
        self._lock = threading.RLock()
        self._owned: dict[int, ActiveRun] = {}  # id(active) -> a run a scope opened, oldest first
        self._shared: dict[str, Any] = {}  # run id -> run, for children in this process to reuse
        self._opening = 0  # sweep trials whose run opens beside their body (`_concurrency`): they route already

    def _install_if_first(self) -> None:
        from . import _globals

        if not self._owned and not self._opening:
            _globals.install()

    def add(self, active: ActiveRun, *, shareable: bool) -> None:
        from . import _globals, _preempt

        with self._lock:
            self._install_if_first()
            self._owned[id(active)] = active
            if shareable and active.run_id:
                self._shared[active.run_id] = active.run
        _preempt.arm()
        _globals.guard_finish(active.run)

    def opening(self) -> None:  # a run is opening beside its scope's body: route the module API to its stand-in already
        with self._lock:
            self._install_if_first()
            self._opening += 1

    def opened(self) -> None:  # the run announced by `opening` is open (and `add`ed), or failed to
        with self._lock:
            self._opening -= 1
        self.closed()

    def shared_run(self, run_id: str | None) -> Any | None:
        with self._lock:
            return self._shared.get(run_id) if run_id else None

    def closing(self, active: ActiveRun) -> bool:
        """``active``'s scope is finishing it: False when the SIGTERM path finished it already."""
        with self._lock:
            self._owned.pop(id(active), None)
            if active.run_id and self._shared.get(active.run_id) is active.run:
                del self._shared[active.run_id]
            return not active.preempted

    def closed(self) -> None:
        from . import _globals, _preempt

        with self._lock:
            if self._owned or self._opening:
                return
            _globals.uninstall()
        _preempt.disarm()

    def take_all(self) -> list[ActiveRun]:
        # Marked preempted: the SIGTERM path finishes them, their scopes then skip it.
        with self._lock:
            for active in self._owned.values():
                active.preempted = True
            return list(self._owned.values())

    def runs(self) -> list[Any]:
        with self._lock:
            return [a.run for a in self._owned.values() if a.run is not None]

    def owner(self, run: Any) -> ActiveRun | None:
        with self._lock:
            return next((a for a in self._owned.values() if a.run is run), None)

    def forget_all(self) -> None:
        # A forked child: the parent's runs are not its own (nor are the routes they installed).
        from . import _globals

        self._lock = threading.RLock()
        _globals.uninstall()
        self._owned.clear()
        self._shared.clear()
        self._opening = 0


registry = OpenRuns()


def _task_data() -> Any:
    # ctx.data as an identity token (one per task attempt): tells an untracked child that inherited the contextvar.
    return getattr(ctx, "data", None) if (ctx := flyte.ctx()) else None


def current() -> ActiveRun | None:  # the innermost tracked scope's run, possibly an ancestor task's
    return entry[0] if (entry := _current.get()) is not None else None


@contextlib.contextmanager
def current_run(active: ActiveRun | None) -> Iterator[None]:
    token = _current.set(None if active is None else (active, _task_data()))
    try:
        yield
    finally:
        _current.reset(token)


def get_wandb_run() -> Any | None:
    """The W&B run of the calling task or function; ``None`` outside a ``@wandb_init`` scope (also in a child task
    without ``@wandb_init`` below a tracked parent) and on distributed ranks that do not log."""
    if (entry := _current.get()) is None:
        # 2.12 kept the run in the task's ctx.data; code (and tests) that put one there still find it.
        return data.get("_wandb_run") if isinstance(data := _task_data(), dict) else None
    active, opened_in = entry
    return active.run if opened_in is _task_data() else None  # else an untracked task below a tracked one


def get_wandb_run_dir() -> str | None:
    """Local directory of the current run's files (``run.dir``), or ``None`` without a run."""
    return None if (run := get_wandb_run()) is None else str(run.dir)
