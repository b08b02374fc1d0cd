"""Value helpers for the GraphQL objects: errors, Relay-style connections, history paging."""

from __future__ import annotations

import json
from typing import Any


class GraphQLFailure(Exception):
    """Becomes an ``errors`` entry in the response (HTTP 200), like W&B's own errors."""


def json_loads(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def connection(items: list[Any], first: int | None, after: str | None) -> dict[str, Any]:
    start = int(after) + 1 if after not in (None, "") and str(after).isdigit() else 0
    count = len(items) - start if first is None else max(0, int(first))
    page = items[start : start + count]
    edges = [{"node": node, "cursor": str(start + i)} for i, node in enumerate(page)]
    end = start + len(page) - 1
    return {
        "edges": edges,
        "pageInfo": {
            "__typename": "PageInfo",
            "endCursor": str(end) if page else after,
            "hasNextPage": start + len(page) < len(items),
            "startCursor": str(start) if page else None,
            "hasPreviousPage": start > 0,
        },
        "totalCount": len(items),
    }


def sample(rows: list[Any], samples: int | None) -> list[Any]:
    if samples is None or samples <= 0 or len(rows) <= samples:
        return rows
    step = len(rows) / samples
    return [rows[int(i * step)] for i in range(samples)]


def step_range(
    rows: list[dict[str, Any]], min_step: Any, max_step: Any, inclusive: bool = False
) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        step = row.get("_step", 0)
        if min_step is not None and step < min_step:
            continue
        if max_step is not None and (step > max_step if inclusive else step >= max_step):
            continue
        out.append(row)
    return out
