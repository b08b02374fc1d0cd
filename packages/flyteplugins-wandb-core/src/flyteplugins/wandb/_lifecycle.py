"""Opening and finishing wandb runs: the only module that talks to the wandb SDK at run time."""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Any

from ._resolve import RunPlan
from ._state import ActiveRun, registry

logger = logging.getLogger("flyteplugins.wandb")

# wandb.init is not documented as thread-safe; concurrent sync tasks run in threads.
_init_lock = threading.Lock()

FAILED_EXIT_CODE = 1


class WandbTrackingError(RuntimeError):
    """W&B could not be reached or refused the run, and ``on_error="raise"`` was requested."""


def _settings(wandb: Any, fields: dict[str, Any]) -> Any:
    known = set(getattr(wandb.Settings, "model_fields", {}) or {})
    usable = {k: v for k, v in fields.items() if not known or k in known}
    dropped = sorted(set(fields) - set(usable))
    if dropped:
        logger.warning("flyteplugins.wandb: this wandb version has no setting(s) %s; ignored.", dropped)
    return wandb.Settings(**usable)


def _notice(message: str) -> None:
    # One line on stderr: Flyte's local mode shows it, and it never lands in the run config.
    print(f"wandb: {message}", file=sys.stderr, flush=True)


def start_run(plan: RunPlan) -> ActiveRun:
    """Call ``wandb.init`` for ``plan``; fall back to offline unless ``on_error == "raise"``."""
    import wandb

    kwargs = dict(plan.init_kwargs)
    fields = dict(plan.settings)
    if plan.finish_timeout is not None:
        fields.setdefault("finish_timeout", plan.finish_timeout)
    try:
        with _init_lock:
            run = wandb.init(**kwargs, settings=_settings(wandb, fields) if fields else None)
    except Exception as exc:
        if plan.on_error == "raise" or kwargs.get("mode") in ("offline", "disabled"):
            raise WandbTrackingError(f"wandb.init failed for run {plan.run_id!r}: {exc}") from exc
        fields = {
            k: v
            for k, v in fields.items()
            if k not in ("mode", "x_primary", "x_label", "x_update_finish_state")
        }
        kwargs["mode"] = "offline"
        _notice(
            f"could not reach W&B ({type(exc).__name__}: {exc}); tracking run {plan.run_id!r} offline instead."
        )
        with _init_lock:
            run = wandb.init(**kwargs, settings=_settings(wandb, fields) if fields else None)
    offline = bool(
        getattr(run, "offline", False) or getattr(getattr(run, "settings", None), "_offline", False)
    )
    if kwargs.get("mode") == "offline":
        offline = True
    active = ActiveRun(run=run, run_id=run.id, primary=plan.primary, plan=plan, offline=offline)
    active.extra["owner"] = True
    if plan.primary or plan.action == "init":
        registry.add(run.id, run)
    return active


def reuse_run(plan: RunPlan) -> ActiveRun | None:
    run = registry.acquire(plan.run_id) if plan.run_id else None
    if run is None:
        return None
    active = ActiveRun(run=run, run_id=plan.run_id, primary=False, plan=plan)
    active.extra["owner"] = False
    return active


def finish_run(active: ActiveRun, error: BaseException | None) -> None:
    """Finish the run this scope opened; a failing scope records a non-zero exit code."""
    run = active.run
    if run is None:
        return
    if not active.extra.get("owner"):
        registry.release(active.run_id or "")
        return
    registry.remove(active.run_id or "")
    exit_code = 0 if error is None else FAILED_EXIT_CODE
    run_dir = os.path.dirname(str(run.dir)) if getattr(run, "dir", None) else None
    try:
        run.finish(exit_code=exit_code)
    except Exception as exc:  # finishing must never replace the task's own outcome
        _notice(f"finishing run {active.run_id!r} failed: {exc}; its local files are in {run_dir}.")
        return
    if active.offline and active.primary and run_dir:
        _notice(f"run {active.run_id} saved offline in {run_dir}; upload it with: wandb sync {run_dir}")
