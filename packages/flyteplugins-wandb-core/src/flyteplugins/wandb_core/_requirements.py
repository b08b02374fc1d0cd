"""wandb's ``requirements.txt`` of each run, scanned once per ``sys.path`` state, not per ``wandb.init`` (40-150 ms)."""

import logging
import os
import sys
import threading
from typing import Any

from . import _compat

logger = logging.getLogger("flyteplugins.wandb")

SETTING = "x_save_requirements"

_lock = threading.Lock()
_cache: tuple[tuple[tuple[str, int], ...], list[Any]] | None = None


def _mtime(entry: str) -> int:
    # (Un)installing a distribution changes the mtime of the sys.path directory holding its *.dist-info.
    try:
        return os.stat(entry or ".").st_mtime_ns
    except OSError:
        return -1


def installed() -> list[Any]:  # the installed distributions, in wandb's order and form (scanned once)
    global _cache
    key = tuple((entry, _mtime(entry)) for entry in sys.path)
    with _lock:  # concurrent first runs wait for one scan instead of each doing their own
        if _cache is None or _cache[0] != key:
            _cache = (key, _compat.installed_distributions())
        return _cache[1]


def take_over(kwargs: dict[str, Any], fields: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Settings fields for ``wandb.init``, and whether the plugin records the requirements (where wandb would)."""
    mode = kwargs.get("mode") or fields.get("mode") or os.environ.get("WANDB_MODE")
    if mode == "disabled" or os.environ.get("WANDB_DISABLED", "").lower() in ("true", "1"):
        return fields, False
    wanted = fields[SETTING] if SETTING in fields else _compat.saves_requirements_by_default()
    if not wanted or not _compat.can_publish_requirements():
        return fields, False
    return {**fields, SETTING: False}, True


def record(run: Any) -> None:  # the run's requirements, once take_over() said the plugin records them
    try:
        _compat.publish_requirements(run, installed())
    except Exception as exc:  # never fail a task over its package list; say why it is missing
        logger.warning("flyteplugins.wandb: could not record requirements.txt for the run: %s", exc)
