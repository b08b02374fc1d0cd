"""Opening and finishing wandb runs, fail-open: a probe, a breaker, then offline, then untracked (one notice each)."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from typing import Any
from urllib.parse import urlparse

from . import _checkpoint, _compat, _concurrency, _notices, _offline, _persist, _requirements
from ._globals import real_finish
from ._resolve import RunPlan
from ._state import FAILED_EXIT_CODE, OFFLINE_MODES, ActiveRun, netrc_has_entry, registry, run_dir
from ._validate import WandbConfigError, WandbTrackingError, check_names

logger = logging.getLogger("flyteplugins.wandb")

# Seconds. wandb's own defaults are init_timeout=90 and an unbounded finish.
DEFAULT_INIT_TIMEOUT = 30.0
DEFAULT_FINISH_TIMEOUT = 60.0
PROBE_TIMEOUT = 5.0
FILE_WRITE_TIMEOUT = 10.0  # an offline run's finish waits this long for wandb-core's last records
BREAKER_SECONDS = 60.0  # later runs to a server found unreachable skip the online attempt this long

_SHARED_FIELDS = ("mode", "x_primary", "x_label", "x_update_finish_state")
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
# Base URL -> (monotonic time online attempts resume, reason); each access is one dict operation, atomic unlocked.
_breaker: dict[str, tuple[float, str]] = {}


def _describe(exc: BaseException) -> str:  # `Type: message` on one line; pydantic errors name the setting
    parts: list[str] = []
    with contextlib.suppress(Exception):  # not pydantic after all
        errors: list[Any] = getattr(exc, "errors", list)()
        parts = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}".strip(": ") for e in errors]
    text = "; ".join(parts) or " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


def _base_url(fields: dict[str, Any]) -> str:
    # Else the URL wandb.init will use: environment, settings files and defaults, in wandb's order.
    return str(fields["base_url"]) if fields.get("base_url") else _compat.configured_base_url()


def probe(base_url: str, timeout: float = PROBE_TIMEOUT) -> str | None:
    """Why ``base_url`` cannot be reached; None when a TCP connection opens or a proxy is set."""
    parsed = urlparse(base_url)
    if any(os.environ.get(name) for name in _PROXY_VARIABLES) or not parsed.hostname:
        return None
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            return None
    except OSError as exc:
        reason = type(exc).__name__ if not str(exc) else f"{type(exc).__name__}: {exc}"
        return f"{base_url} is unreachable ({reason})"


def reset_breaker() -> None:
    _breaker.clear()


def _unreachable(base_url: str) -> str | None:
    # Without credentials wandb.init fails at once with a clear message: no need to probe.
    if not (os.environ.get("WANDB_API_KEY") or netrc_has_entry(base_url)):
        return None
    until, reason = _breaker.get(base_url, (0.0, None))
    reason = (reason if time.monotonic() < until else None) or probe(base_url)
    if reason is not None:
        _breaker[base_url] = (time.monotonic() + BREAKER_SECONDS, reason)
    return reason


def _init(kwargs: dict[str, Any], fields: dict[str, Any]) -> Any:
    import wandb  # on first use: a torchrun rank that never logs must not pay for importing wandb

    fields, record_requirements = _requirements.take_over(kwargs, fields)  # read once per process
    init = vars(wandb).get("init", wandb.init)  # wandb's own, past the route user code sees (`_globals`)
    known = set(getattr(wandb.Settings, "model_fields", {}) or {})
    usable = {k: v for k, v in fields.items() if not known or k in known}
    if dropped := sorted(set(fields) - set(usable)):
        logger.warning("flyteplugins.wandb: this wandb version has no setting(s) %s; ignored.", dropped)
    with _concurrency.init_slot(kwargs.get("reinit", fields.get("reinit"))):
        settings = wandb.Settings(**usable) if fields else None
        run = _checkpoint.rewind_init(init, kwargs, settings, _base_url(fields))  # rewound to a checkpoint on resume
    if record_requirements:
        _requirements.record(run)
    return run


def _untracked(kwargs: dict[str, Any]) -> Any:  # a disabled run (the body's calls work, nothing is recorded), or None
    base = {"mode": "disabled", "reinit": "create_new"}
    config = [{**base, "config": kwargs["config"]}] if kwargs.get("config") is not None else []
    for attempt in ({**kwargs, **base}, *config, base):
        with contextlib.suppress(Exception):  # wandb validates some arguments in every mode (a tag it refuses)
            return _init(attempt, {})
    return None


def _offline_fallback(kwargs: dict[str, Any], fields: dict[str, Any]) -> tuple[Any, str | None, str | None]:
    """(run opened offline, id to sync it to if different, why offline failed)."""
    kwargs = {**kwargs, "mode": "offline"}
    fields = {k: v for k, v in fields.items() if k not in _SHARED_FIELDS}
    try:
        return _init(kwargs, fields), None, None
    except Exception as first:
        error: Exception = first
        if kwargs.get("id"):
            # wandb keeps a failed online init's id reserved: the copy gets its own, `wandb sync --id` files it.
            sync_id = str(kwargs["id"])
            kwargs["id"] = f"{sync_id}-offline-{int(time.time() * 1000) % 100000:05d}"
            try:
                return _init(kwargs, fields), sync_id, None
            except Exception as second:
                # The same refusal twice means the input itself; otherwise the second one is news.
                error = first if _describe(second) == _describe(first) else second
    # Even offline failed (a refused input, a read-only disk, ...): the task still runs, untracked.
    return _untracked(kwargs), None, _describe(error)


def _not_tracked(plan: RunPlan, run: Any, why: str) -> ActiveRun:
    _notices.notice(f"{why}; run {plan.run_id!r} is not tracked; the task goes on.")
    return ActiveRun(run=run, run_id=plan.run_id, primary=True, plan=plan, offline=True, owner=True, untracked=True)


def start_run(plan: RunPlan) -> ActiveRun:
    """Call ``wandb.init`` for ``plan``; fall back to offline, then untracked, unless ``on_error == "raise"``."""
    try:
        active = _start_run(plan)
    except (WandbTrackingError, WandbConfigError):  # a bad argument is the user's to fix, not fail-open's
        raise
    except Exception as exc:
        if plan.on_error == "raise":
            raise WandbTrackingError(f"tracking failed for run {plan.run_id!r}: {_describe(exc)}") from exc
        active = _not_tracked(plan, _untracked(dict(plan.init_kwargs)), f"tracking failed ({_describe(exc)})")
    if active.run is not None:
        # Children in this process may reuse a primary (or a plain) run of ours by its id.
        registry.add(active, shareable=not active.untracked and (plan.primary or plan.action == "init"))
    return active


def _start_run(plan: RunPlan) -> ActiveRun:
    import wandb

    check_names(f"run {plan.run_id!r}", plan.init_kwargs, plan.settings, wandb)
    kwargs = dict(plan.init_kwargs)
    fields = dict(plan.settings)
    fields.setdefault("finish_timeout", plan.finish_timeout or DEFAULT_FINISH_TIMEOUT)
    fields.setdefault("init_timeout", DEFAULT_INIT_TIMEOUT)
    online = (kwargs.get("mode") or fields.get("mode") or os.environ.get("WANDB_MODE")) not in OFFLINE_MODES
    base_url = _base_url(fields) if online else ""
    reason = _unreachable(base_url) if online else None
    if reason is None:
        started = time.monotonic()
        try:
            run = _init(kwargs, fields)
        except Exception as exc:
            if plan.on_error == "raise":
                raise WandbTrackingError(f"wandb.init failed for run {plan.run_id!r}: {exc}") from exc
            reason = f"wandb.init failed ({_describe(exc)})"
            if not online:  # already offline: wandb refused the input itself
                return _not_tracked(plan, _untracked(kwargs), reason)
            # Only a server that kept wandb retrying until init_timeout trips the breaker, not a fast refusal.
            if time.monotonic() - started >= 0.8 * float(fields["init_timeout"]):
                _breaker[base_url] = (time.monotonic() + BREAKER_SECONDS, reason)
        else:
            return _opened(plan, run, kwargs, None, None)
    elif plan.on_error == "raise":
        raise WandbTrackingError(f"W&B is not reachable for run {plan.run_id!r}: {reason}")
    run, sync_id, untracked = _offline_fallback(kwargs, fields)
    if untracked is not None:
        also = "" if untracked in reason else f"; offline tracking failed too ({untracked})"
        return _not_tracked(plan, run, f"{reason}{also}")
    return _opened(plan, run, kwargs, reason, sync_id)


def _opened(plan: RunPlan, run: Any, kwargs: dict[str, Any], reason: str | None, sync_id: str | None) -> ActiveRun:
    offline = reason is not None or kwargs.get("mode") == "offline"
    offline = offline or bool(getattr(run, "offline", False)) or _compat.settings_offline(run)
    run_id = sync_id or run.id
    folder = run_dir(run)
    if reason is not None:
        shown = folder or "(not saved)"
        _notices.notice(
            f"{reason}; tracking run {run_id!r} offline in {shown} instead; upload it later with: "
            f"{_notices.sync_command([shown], sync_id=sync_id)}"
        )
    primary = plan.primary or reason is not None  # a shared-mode secondary that fell back writes its own part
    if offline and primary and folder:
        _persist.remember(folder)
    return ActiveRun(run=run, run_id=run_id, primary=primary, plan=plan, offline=offline, owner=True, sync_id=sync_id)


def finish_run(active: ActiveRun, error: BaseException | None) -> None:
    """Finish the scope's own run; `WandbTrackingError` for an unconfirmed upload with ``on_error="raise"``."""
    run = active.run
    if run is None or not active.owner:  # a reusing child's scope leaves the run to its owner
        return
    if not registry.closing(active):
        registry.closed()
        return  # a SIGTERM handler already flushed and finished it
    # A failure the task's code declared with its own wandb.finish(exit_code=...) stands.
    exit_code = active.requested_exit_code or (0 if error is None else FAILED_EXIT_CODE)
    folder = run_dir(run)
    started = time.monotonic()
    try:
        real_finish(run, exit_code=exit_code)
    except Exception as exc:  # finishing must never replace the task's own outcome
        _notices.notice(f"finishing run {active.run_id!r} failed: {exc}; its local files are in {folder}.")
        return
    finally:
        registry.closed()
    if active.untracked:
        return  # a disabled run: nothing to upload, and start_run already said so
    if active.offline:
        if folder and not _offline.wait_until_written(folder, FILE_WRITE_TIMEOUT):
            if not _offline.has_transaction_log(folder):
                # Deleted while the run was open (a cleanup of ./wandb): "upload it" would point at nothing.
                _notices.notice(
                    f"run {active.run_id!r} is lost: its folder {folder} was deleted while the run was "
                    f"open (no run-*.wandb left), so there is nothing to upload or keep."
                )
                return
            _notices.notice(f"run {active.run_id!r} was not completely written to {folder} when its task returned.")
        if active.primary and folder:
            _persist.persist_run(str(active.run_id), folder, sync_id=active.sync_id)
            # One `wandb sync` line for all of them, once the process's last open run finishes.
            _notices.offline_run_saved(
                str(active.run_id), folder, sync_id=active.sync_id, others_open=bool(registry.runs())
            )
    elif _compat.finish_timed_out(run):
        cmd = _notices.sync_command([folder or "<run dir>"], online=True)
        message = (
            f"W&B did not confirm the upload of run {active.run_id!r} within {time.monotonic() - started:.0f}s "
            f"(finish_timeout); its data is kept in {folder}; upload it with: {cmd}"
        )
        if error is None and active.raises:
            raise WandbTrackingError(message)
        _notices.notice(message)
        if folder:
            _persist.persist_run(str(active.run_id), folder, online_dir=True)
        active.offline = True  # its data now lives only on local disk (download_logs skips it)
