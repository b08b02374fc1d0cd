"""The GraphQL ``Run`` and ``File`` objects, built from a stored ``RunRecord`` when a query selects them.

Callables are evaluated only when selected (history, sampled history, files, history keys), so a
query that asks for a run's name does not pay for its history.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .gql_values import connection, json_loads, sample, step_range
from .store import RunRecord, now_iso, opaque_id

if TYPE_CHECKING:
    from .schema import Schema


def run_object(schema: Schema, rec: RunRecord) -> dict[str, Any]:
    """The ``Run`` object (W&B's ``bucket``): fields the SDK and the public Api select."""
    store = schema.store

    def history(samples: int | None = None, minStep: Any = None, maxStep: Any = None, **_: Any) -> list[str]:
        rows = step_range(rec.history, minStep, maxStep)
        return [json.dumps(r) for r in sample(rows, samples)]

    def sampled_history(specs: Any = None, **_: Any) -> list[list[dict[str, Any]]]:
        out = []
        for spec in specs or []:
            spec = json_loads(spec) or {}
            keys = [k for k in spec.get("keys") or [] if k]
            # wandb-core pages sampledHistory with an inclusive maxStep (samples = max - min + 1).
            rows = step_range(rec.history, spec.get("minStep"), spec.get("maxStep"), inclusive=True)
            # W&B returns only the rows that hold every requested key (_step is always there).
            picked = [{k: r[k] for k in keys if k in r} for r in rows if all(k in r for k in keys if k != "_step")]
            out.append(sample(picked, spec.get("samples")))
        return out

    def files(
        names: list[str] | None = None,
        after: str | None = None,
        first: int | None = None,
        pattern: str | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        import fnmatch

        with store.lock:
            selected = sorted(rec.files)
        if names:
            selected = [n for n in selected if n in names]
        if pattern:
            selected = [n for n in selected if fnmatch.fnmatch(n, pattern.replace("%", "*"))]
        return connection([file_object(schema, rec, n) for n in selected], first, after)

    def wandb_config(keys: list[str] | None = None, **_: Any) -> str:
        wcfg = rec.wandb_config
        return json.dumps({k: v for k, v in wcfg.items() if not keys or k in keys})

    def tail(lines: list[str]) -> str:
        return json.dumps(lines[-10:])

    history_rows = None

    def history_keys(**_: Any) -> dict[str, Any]:
        nonlocal history_rows
        history_rows = history_rows or rec.history
        keys: dict[str, dict[str, Any]] = {}
        for row in history_rows:
            for k, v in row.items():
                kind = (
                    "number"
                    if isinstance(v, (int, float)) and not isinstance(v, bool)
                    else ("string" if isinstance(v, str) else type(v).__name__)
                )
                entry = keys.setdefault(k, {"typeCounts": []})
                tc = next((t for t in entry["typeCounts"] if t["type"] == kind), None)
                if tc is None:
                    entry["typeCounts"].append({"type": kind, "count": 1})
                else:
                    tc["count"] += 1
        last = max((r.get("_step", -1) for r in history_rows if isinstance(r.get("_step"), int)), default=-1)
        return {"lastStep": last, "keys": keys}

    events = rec.events
    sweep = store.get_sweep(rec.sweep, rec.project, rec.entity) if rec.sweep else None
    return {
        "__typename": "Run",
        "id": rec.node_id,
        "name": rec.id,
        "displayName": rec.name,
        "projectId": str(store.project_id(rec.entity, rec.project)),
        "project": {
            "id": opaque_id("Project", "v1", rec.project, rec.entity),
            "name": rec.project,
            "entityName": rec.entity,
            "entity": schema._entity(rec.entity),
            "internalId": str(store.project_id(rec.entity, rec.project)),
        },
        "entity": schema._entity(rec.entity),
        "tags": list(rec.tags),
        "state": rec.state,
        "config": json.dumps(rec.raw_config),
        "group": rec.group,
        "jobType": rec.job_type,
        "commit": rec.commit,
        "readOnly": False,
        "createdAt": now_iso(rec.created_at),
        "heartbeatAt": now_iso(rec.heartbeat_at),
        "updatedAt": now_iso(rec.heartbeat_at),
        "description": rec.description,
        "notes": rec.notes,
        "host": rec.host,
        "program": rec.program,
        "systemMetrics": json.dumps(events[-1] if events else {}),
        "summaryMetrics": json.dumps(rec.summary),
        "historyLineCount": len(rec.history_lines),
        "logLineCount": len(rec.log_lines),
        "eventsLineCount": len(rec.events_lines),
        "historyTail": tail(rec.history_lines),
        "eventsTail": tail(rec.events_lines),
        "wandbConfig": wandb_config,
        "user": {"name": "loopback", "username": "loopback"},
        "historyKeys": history_keys,
        "sweepName": rec.sweep,
        "exitcode": rec.exit_code,
        "fileCount": len(rec.files),
        "files": files,
        **schema.artifacts.run_fields(rec.entity, rec.project, rec.id),
        "history": history,
        "sampledHistory": sampled_history,
        "parquetHistory": None,
        "stopped": rec.should_stop,
        "running": not rec.finished,
        "sweep": schema._sweep(sweep) if sweep else None,
        "servicesAvailable": None,
        "runInfo": None,
        "defaultColorIndex": 0,
        "outputLogUrl": None,
    }


def file_object(schema: Schema, rec: RunRecord, name: str) -> dict[str, Any]:
    url = schema.storage_url(rec.entity, rec.project, rec.id, name)
    data = rec.files.get(name, b"")
    return {
        "__typename": "File",
        "id": opaque_id("File", rec.entity, rec.project, rec.id, name),
        "name": name,
        "url": lambda upload=None, **_: url,
        "directUrl": url,
        "sizeBytes": len(data),
        "mimetype": "application/octet-stream",
        "updatedAt": now_iso(rec.file_times.get(name)),
        "md5": rec.file_md5(name),
        "storagePath": name,
        "digest": rec.file_md5(name),
    }
