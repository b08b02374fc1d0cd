"""Mongo-style run filters and ordering, as the public API sends them (``api.runs``, ``sweep.runs``).

A server that ignores ``filters`` returns every run of the project and the SDK cannot tell, so the
supported operators are implemented for real: ``$and``, ``$or``, ``$nor``, ``$not``, ``$eq``,
``$ne``, ``$gt``, ``$gte``, ``$lt``, ``$lte``, ``$in``, ``$nin``, ``$exists``, ``$regex``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .store import RunRecord

_MISSING = object()

# Field names the public API uses, mapped to run attributes.
_ALIASES = {
    "sweep": "sweep",
    "sweepName": "sweep",
    "state": "state",
    # The API's `name` is the run id; its display name is what the run reports as `name`.
    "name": "id",
    "id": "id",
    "display_name": "name",
    "displayName": "name",
    "group": "group",
    "job_type": "job_type",
    "jobType": "job_type",
    "tags": "tags",
    "created_at": "created_at",
    "createdAt": "created_at",
    "heartbeat_at": "heartbeat_at",
    "heartbeatAt": "heartbeat_at",
    "notes": "notes",
    "description": "description",
    "host": "host",
    "exitcode": "exit_code",
}


def field_value(run: RunRecord, key: str) -> Any:
    """The value a filter or order key points at (``config.lr``, ``summary_metrics.loss``, ...)."""
    head, _, rest = key.partition(".")
    if head == "config":
        value: Any = run.raw_config
        parts = rest.split(".") if rest else []
        for i, part in enumerate(parts):
            if not isinstance(value, dict) or part not in value:
                return _MISSING
            value = value[part]
            # "config.lr" means the value; "config.lr.value" spells the wrapper out.
            if i == 0 and isinstance(value, dict) and "value" in value and parts[1:2] != ["value"]:
                value = value["value"]
        return value
    if head in ("summary_metrics", "summaryMetrics", "summary"):
        value = run.summary
        for part in rest.split(".") if rest else []:
            if not isinstance(value, dict) or part not in value:
                return _MISSING
            value = value[part]
        return value
    attr = _ALIASES.get(key)
    if attr is None:
        return _MISSING
    return getattr(run, attr)


def _cmp(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def check(value: Any, arg: Any) -> bool:
        if value is _MISSING or value is None:
            return False
        try:
            return op(value, arg)
        except TypeError:
            return False

    return check


def _eq(value: Any, arg: Any) -> bool:
    if isinstance(value, list) and not isinstance(arg, list):
        return arg in value  # tags: {"tags": "x"} matches a run tagged x
    return bool(value == arg)


def _in(value: Any, arg: Any) -> bool:
    if isinstance(value, list):
        return any(v in arg for v in value)
    return value in (arg or [])


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "$eq": lambda v, a: v is not _MISSING and _eq(v, a),
    "$ne": lambda v, a: v is _MISSING or not _eq(v, a),
    "$gt": _cmp(lambda v, a: v > a),
    "$gte": _cmp(lambda v, a: v >= a),
    "$lt": _cmp(lambda v, a: v < a),
    "$lte": _cmp(lambda v, a: v <= a),
    "$in": lambda v, a: v is not _MISSING and _in(v, a),
    "$nin": lambda v, a: v is _MISSING or not _in(v, a),
    "$exists": lambda v, a: (v is not _MISSING and v is not None) == bool(a),
    "$regex": lambda v, a: isinstance(v, str) and re.search(str(a), v) is not None,
}


def matches(run: RunRecord, flt: Any) -> bool:
    """Whether ``run`` passes the Mongo-style filter ``flt``; unknown operators raise ValueError."""
    if not flt:
        return True
    if not isinstance(flt, dict):
        raise ValueError(f"filter must be an object, got {flt!r}")
    for key, cond in flt.items():
        if key == "$and":
            if not all(matches(run, c) for c in cond):
                return False
        elif key == "$or":
            if not any(matches(run, c) for c in cond):
                return False
        elif key == "$nor":
            if any(matches(run, c) for c in cond):
                return False
        elif key.startswith("$"):
            raise ValueError(f"unsupported filter operator {key!r}")
        elif not _match_field(field_value(run, key), cond):
            return False
    return True


def _match_field(value: Any, cond: Any) -> bool:
    if isinstance(cond, dict) and cond and all(str(k).startswith("$") for k in cond):
        for op, arg in cond.items():
            if op == "$not":
                if _match_field(value, arg):
                    return False
                continue
            if op == "$options":
                continue
            check = _OPS.get(op)
            if check is None:
                raise ValueError(f"unsupported filter operator {op!r}")
            if op == "$regex" and cond.get("$options"):
                flags = re.IGNORECASE if "i" in str(cond["$options"]) else 0
                if not (isinstance(value, str) and re.search(str(arg), value, flags)):
                    return False
                continue
            if not check(value, arg):
                return False
        return True
    return _OPS["$eq"](value, cond)


def order_runs(runs: list[RunRecord], order: str | None) -> list[RunRecord]:
    """Sort by ``+key``/``-key`` (default ``-created_at``, newest first, as W&B does)."""
    order = order or "-created_at"
    desc = order.startswith("-")
    key = order.lstrip("+-")
    present = [r for r in runs if field_value(r, key) not in (_MISSING, None)]
    missing = [r for r in runs if field_value(r, key) in (_MISSING, None)]

    def sort_key(run: RunRecord) -> tuple[int, Any]:
        value = field_value(run, key)
        return (0, value) if isinstance(value, (int, float)) else (1, str(value))

    present.sort(key=sort_key, reverse=desc)
    # Runs without the key go last either way, like W&B's nulls.
    return present + missing
