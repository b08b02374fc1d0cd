"""GraphQL root objects: the data the projector fits to whatever the SDK selects.

Field names follow W&B's public GraphQL schema. Objects are dicts; values that take arguments or cost
something are callables, evaluated only when selected. JSON-typed fields that the SDK parses with
``json.loads`` (``config``, ``summaryMetrics``...) are JSON strings, as the real server sends them.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from .artifacts import ArtifactStore
from .controller import SweepController, count_expected
from .filters import matches, order_runs
from .gql_values import GraphQLFailure, connection, json_loads
from .run_object import run_object
from .store import DEFAULT_ENTITY, RunRecord, Store, SweepRecord, now_iso, opaque_id

__all__ = ["GraphQLFailure", "Schema"]


class Schema:
    def __init__(self, store: Store, base_url: str, entity: str = DEFAULT_ENTITY) -> None:
        self.store = store
        self.base_url = base_url
        self.entity = entity
        self.controller = SweepController(store)
        self.artifacts = ArtifactStore(self)

    def storage_url(self, entity: str, project: str, run: str, name: str) -> str:
        return f"{self.base_url}/storage/{quote(entity)}/{quote(project)}/{quote(run)}/{quote(name)}"

    # -- roots ------------------------------------------------------------------------------------
    def query_root(self, headers: dict[str, str]) -> dict[str, Any]:
        return {
            "viewer": self._viewer(),
            "serverInfo": {
                "features": [],
                "cliVersionInfo": None,
                "latestLocalVersionInfo": None,
                "availableBucketProviders": [],
                "frontendHost": self.base_url,
            },
            "entity": lambda name=None, **_: self._entity(name or self.entity),
            "project": lambda name=None, entityName=None, **_: self._project(entityName, name),
            "model": lambda name=None, entityName=None, **_: self._project(entityName, name),
            "run": lambda **kw: None,
            "artifact": self.artifacts.artifact_by_id,
            "organization": lambda name=None, **_: self.artifacts.registry.organization(name or self.entity),
        }

    def mutation_root(self, headers: dict[str, str]) -> dict[str, Any]:
        client_id = headers.get("x-wandb-client-id") or None
        return {
            "upsertBucket": lambda input=None, **_: self._upsert_bucket(input or {}, client_id),
            "createRunFiles": lambda input=None, **_: self._create_run_files(input or {}),
            "upsertSweep": lambda input=None, **_: self._upsert_sweep(input or {}),
            "createAgent": lambda input=None, **_: self._create_agent(input or {}),
            "agentHeartbeat": lambda input=None, **_: self._agent_heartbeat(input or {}),
            "stopRun": lambda input=None, **_: self._stop_run(input or {}),
            "rewindRun": lambda input=None, **_: self._rewind_run(input or {}),
            **self.artifacts.mutations(),
        }

    # -- query objects ----------------------------------------------------------------------------
    def _viewer(self) -> dict[str, Any]:
        return {
            "id": opaque_id("User", "loopback"),
            "entity": self.entity,
            "username": "loopback",
            "name": "loopback",
            "email": "loopback@127.0.0.1",
            "flags": "{}",
            "admin": False,
            "teams": {"edges": [{"node": {"name": self.entity}}]},
            "organizations": [],
            "defaultFramework": None,
            "photoUrl": None,
        }

    def _entity(self, name: str) -> dict[str, Any]:
        return {
            "id": opaque_id("Entity", name),
            "name": name,
            # Every entity belongs to one organization, whose entity holds the W&B registries.
            "organization": lambda **_: self.artifacts.registry.organization(name),
            "user": lambda **_: {"organizations": [self.artifacts.registry.organization(name)]},
            "isTeam": False,
            "defaultAccess": "PRIVATE",
            "readOnly": False,
        }

    def _project(self, entity: str | None, name: str | None) -> dict[str, Any] | None:
        entity = entity or self.entity
        if not name:
            return None
        store = self.store
        pid = store.project_id(entity, name)

        def run(name: str | None = None, **_: Any) -> dict[str, Any] | None:
            rec = store.get_run(entity, project_name, name or "")
            return self._run(rec) if rec else None

        def bucket(name: str | None = None, missingOk: bool = False, **_: Any) -> dict[str, Any] | None:
            return run(name)

        def runs(
            filters: Any = None, order: str | None = None, first: int | None = None, after: str | None = None, **_: Any
        ) -> dict[str, Any]:
            selected = self._filtered_runs(entity, project_name, filters, order)
            return connection([self._run(r) for r in selected], first, after)

        def run_count(filters: Any = None, **_: Any) -> int:
            return len(self._filtered_runs(entity, project_name, filters, None))

        def sweep(sweepName: str | None = None, **_: Any) -> dict[str, Any] | None:
            rec = store.get_sweep(sweepName or "", project_name, entity)
            return self._sweep(rec) if rec else None

        def sweeps(first: int | None = None, after: str | None = None, **_: Any) -> dict[str, Any]:
            with store.lock:
                items = [self._sweep(s) for (e, p, _), s in store.sweeps.items() if e == entity and p == project_name]
            return connection(items, first, after)

        project_name = name
        return {
            "__typename": "Project",
            "id": opaque_id("Project", "v1", name, entity),
            "name": name,
            "entityName": entity,
            "internalId": str(pid),
            "entity": self._entity(entity),
            "createdAt": now_iso(),
            "readOnly": False,
            "isBenchmark": False,
            "access": "PRIVATE",
            "description": None,
            "run": run,
            "bucket": bucket,
            "runs": runs,
            "runCount": run_count,
            "sweep": sweep,
            "sweeps": sweeps,
            "totalSweeps": lambda **_: sum(1 for (e, p, _) in store.sweeps if e == entity and p == project_name),
            "totalRuns": lambda **_: len(store.runs_in(entity, project_name)),
            **self.artifacts.project_fields(entity, name),
            "artifactTypes": {"edges": []},
        }

    def _filtered_runs(self, entity: str, project: str, filters: Any, order: str | None) -> list[RunRecord]:
        flt = json_loads(filters) or {}
        try:
            return order_runs([r for r in self.store.runs_in(entity, project) if matches(r, flt)], order)
        except ValueError as exc:
            raise GraphQLFailure(str(exc)) from exc

    def _run(self, rec: RunRecord) -> dict[str, Any]:
        return run_object(self, rec)

    def _sweep(self, rec: SweepRecord) -> dict[str, Any]:
        store = self.store
        entity, project = rec.entity, rec.project

        def runs(
            filters: Any = None, order: str | None = None, first: int | None = None, after: str | None = None, **_: Any
        ) -> dict[str, Any]:
            flt = json_loads(filters) or {}
            selected = [r for r in store.sweep_runs(rec) if matches(r, flt)]
            return connection([self._run(r) for r in order_runs(selected, order)], first, after)

        return {
            "__typename": "Sweep",
            "id": opaque_id("Sweep", rec.name),
            "name": rec.name,
            "displayName": rec.display_name or rec.name,
            "method": rec.method,
            "state": rec.state,
            "description": rec.description,
            "bestLoss": self._best_loss(rec),
            "config": rec.config_yaml,
            "createdAt": now_iso(rec.created_at),
            "updatedAt": now_iso(rec.updated_at),
            "heartbeatAt": now_iso(rec.updated_at),
            "runCount": len(store.sweep_runs(rec)),
            "runCountExpected": count_expected(rec),
            "controller": None,
            "scheduler": None,
            "priority": None,
            "project": {
                "id": opaque_id("Project", "v1", project, entity),
                "name": project,
                "entityName": entity,
                "entity": self._entity(entity),
            },
            "runs": runs,
        }

    def _best_loss(self, rec: SweepRecord) -> float | None:
        metric = rec.config.get("metric") or {}
        name = metric.get("name")
        if not name:
            return None
        values = [r.summary.get(name) for r in self.store.sweep_runs(rec)]
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if not numbers:
            return None
        return max(numbers) if metric.get("goal") == "maximize" else min(numbers)

    # -- mutations --------------------------------------------------------------------------------
    def _upsert_bucket(self, data: dict[str, Any], client_id: str | None) -> dict[str, Any]:
        # The input spells the run's place as modelName/entityName (older names: project/entity).
        data = {
            **data,
            "entity": data.get("entityName") or data.get("entity") or self.entity,
            "project": data.get("modelName") or data.get("project"),
            "program": data.get("jobProgram") or data.get("program"),
        }
        rec, inserted = self.store.upsert_run(data, client_id)
        return {"bucket": self._run(rec), "inserted": inserted, "updateAvailable": False}

    def _create_run_files(self, data: dict[str, Any]) -> dict[str, Any]:
        entity = data.get("entityName") or data.get("entity") or self.entity
        project = data.get("projectName") or data.get("project")
        run = data.get("runName") or data.get("run") or data.get("name")
        rec = self.store.get_run(entity, project, run) if project and run else None
        if rec is None:
            raise GraphQLFailure(f"run {entity}/{project}/{run} not found")
        files = []
        for name in data.get("files") or []:
            url = self.storage_url(rec.entity, rec.project, rec.id, name)
            files.append({"name": name, "uploadUrl": url, "url": url})
        return {"runID": rec.node_id, "uploadHeaders": [], "files": files}

    def _upsert_sweep(self, data: dict[str, Any]) -> dict[str, Any]:
        try:
            rec = self.store.upsert_sweep(data, self.entity)
        except (ValueError, TypeError) as exc:
            raise GraphQLFailure(f"invalid sweep config: {exc}") from exc
        return {"sweep": self._sweep(rec), "inserted": True, "configValidationWarnings": []}

    def _create_agent(self, data: dict[str, Any]) -> dict[str, Any]:
        name = data.get("sweep")
        rec = self.store.get_sweep(name or "", data.get("projectName"), data.get("entityName")) or self.store.get_sweep(
            name or ""
        )
        if rec is None:
            raise GraphQLFailure(f"sweep {name!r} not found")
        agent = self.controller.register_agent(rec, data.get("host"))
        return {"agent": {"id": agent.id, "name": agent.id, "sweep": self._sweep(rec)}}

    def _agent_heartbeat(self, data: dict[str, Any]) -> dict[str, Any]:
        agent = self.store.agents.get(data.get("id") or "")
        if agent is None:
            raise GraphQLFailure(f"agent {data.get('id')!r} not found")
        run_state = json_loads(data.get("runState")) or {}
        commands = self.controller.heartbeat(agent, run_state if isinstance(run_state, dict) else {})
        return {"agent": {"id": agent.id}, "commands": json.dumps(commands)}

    def _rewind_run(self, data: dict[str, Any]) -> dict[str, Any]:
        """``wandb.init(resume_from="<id>?_step=<n>")``: history after step n is dropped (W&B archives
        it), the summary is rebuilt from what the new session logs; wandb 0.31 goes on at step n + 1."""
        entity = data.get("entityName") or self.entity
        name, project = data.get("runName") or "", data.get("projectName") or ""
        rec = self.store.get_run(entity, project, name)
        if rec is None:
            raise GraphQLFailure(f"run {entity}/{project}/{name} not found")
        metric, value = data.get("metricName") or "_step", data.get("metricValue")
        if metric != "_step" or not isinstance(value, (int, float)):
            raise GraphQLFailure(f"rewindRun supports metricName '_step' and a number, got {metric}={value!r}")
        with self.store.lock:
            rec.history_lines = [
                line for line in rec.history_lines if (json_loads(line) or {}).get("_step", 0) <= value
            ]
            for writer in rec.writers.values():
                writer.summary = {}
                writer.index.clear()  # the next session's offsets count from the kept lines
            rec.rewinds.append(int(value))
        return {"rewoundRun": self._run(rec)}

    def _stop_run(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.store.lock:
            rec = next((r for r in self.store.runs.values() if r.node_id == data.get("id")), None)
            if rec is not None:
                rec.should_stop = True
        return {"clientMutationId": data.get("clientMutationId"), "success": rec is not None}
