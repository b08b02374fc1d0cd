"""Rewind a resumed run to its latest checkpoint (``resume_from="<id>?_step=<step>"``) so that each step is
logged once; where the server cannot, the run resumes as before with one notice."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from . import _notices
from ._artifact_names import STEP_KEY, checkpoint_name

logger = logging.getLogger("flyteplugins.wandb")

_unsupported: set[str] = set()  # base URLs whose server refused a rewind (asked once per process)
_lock = threading.Lock()


def checkpoint_step(wandb: Any, kwargs: dict[str, Any], base_url: str) -> int | None:
    """The step of the run's latest checkpoint on the server, or None (no run, no checkpoint yet)."""
    # wandb.init reads WANDB_PROJECT when no project is passed; a run without either is "uncategorized".
    run_id = kwargs.get("id")
    project = kwargs.get("project") or os.environ.get("WANDB_PROJECT") or "uncategorized"
    if not run_id:
        return None
    try:
        overrides = {"base_url": base_url, **({"entity": kwargs["entity"]} if kwargs.get("entity") else {})}
        api = wandb.Api(overrides=overrides, timeout=10)
        ref = f"{kwargs.get('entity') or api.default_entity}/{project}/{checkpoint_name(str(run_id))}:latest"
        if not api.artifact_exists(ref):
            return None
        step = (api.artifact(ref).metadata or {}).get(STEP_KEY)
    except Exception as exc:  # the server could not tell: open the run as before
        logger.debug("rewind: cannot read the checkpoint of run %s (%s)", run_id, exc)
        return None
    return step if isinstance(step, int) and not isinstance(step, bool) else None


def init(wandb_init: Any, kwargs: dict[str, Any], settings: Any, base_url: str) -> Any:
    """``wandb_init(**kwargs)`` (wandb's own ``wandb.init``), rewinding a resumed run to its latest
    checkpoint where the server can."""
    import wandb

    wants = kwargs.get("resume") == "allow" and kwargs.get("id") and kwargs.get("mode") != "offline"
    shared = getattr(settings, "mode", None) == "shared"
    supported = "resume_from" in (getattr(wandb.Settings, "model_fields", {}) or {}) and base_url not in _unsupported
    step = checkpoint_step(wandb, kwargs, base_url) if wants and not shared and supported else None
    if step is None:
        return wandb_init(**kwargs, settings=settings)
    rewind = {k: v for k, v in kwargs.items() if k != "resume"}
    rewind["resume_from"] = f"{kwargs['id']}?_step={step}"
    try:
        run = wandb_init(**rewind, settings=settings)
    except Exception as exc:
        if "rewind" not in str(exc).lower():
            raise
        with _lock:
            first = base_url not in _unsupported
            _unsupported.add(base_url)
        if first:
            _notices.notice(
                f"this W&B server cannot rewind run {kwargs['id']!r} to its checkpoint at step {step} "
                f"({exc}); resuming it as before: steps logged after the checkpoint by the previous "
                "attempt keep their values."
            )
        return wandb_init(**kwargs, settings=settings)
    logger.info("rewound run %s to its checkpoint at step %d", kwargs["id"], step)
    return run
