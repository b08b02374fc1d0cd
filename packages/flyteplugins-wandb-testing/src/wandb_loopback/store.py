"""What the loopback server stores: runs (config, history, summary, console, files), sweeps, agents.

Everything is kept in memory behind one lock. Tests read it through the ``RunRecord`` /
``SweepRecord`` accessors (``history``, ``summary``, ``config``, ``files``...), never through the
client, because the wandb SDK often exits 0 after losing data.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from typing import Any

from .protocol import warn_if_unsupported
from .records import (
    DEFAULT_ENTITY,
    DEFAULT_PROJECT,
    EVENTS,
    HISTORY,
    OUTPUT,
    SUMMARY,
    AgentRecord,
    Handout,
    RunRecord,
    SweepRecord,
    _loads,
    _Writer,
    now_iso,
    opaque_id,
    random_id,
)

# Re-exported: the modules and tests that predate records.py import these from here.
__all__ = [
    "DEFAULT_ENTITY",
    "DEFAULT_PROJECT",
    "AgentRecord",
    "Handout",
    "RunRecord",
    "Store",
    "SweepRecord",
    "_Writer",
    "now_iso",
    "opaque_id",
    "random_id",
]

# The storage "entity" under which the server keeps its own files (artifact blobs and manifests).
INTERNAL_ENTITY = "_artifacts"


class Store:
    """All server state, behind ``lock``. Methods that mutate take the lock themselves."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.runs: dict[tuple[str, str, str], RunRecord] = {}
        # Files the server keeps for itself (artifact blobs and manifests, under INTERNAL_ENTITY):
        # storage like a run's files, but never a run that `runs()` or the API would list.
        self.internal_files: dict[tuple[str, str, str], dict[str, bytes]] = {}
        self.sweeps: dict[tuple[str, str, str], SweepRecord] = {}
        self.agents: dict[str, AgentRecord] = {}
        self.projects: dict[tuple[str, str], int] = {}
        self.requests: list[dict[str, Any]] = []
        self.unknown_operations: list[str] = []
        # The SDK version last seen (User-Agent of the public Api, `_wandb.cli_version` of a run):
        # wandb-core's own requests do not carry it, and a protocol-gap error should name it.
        self.client_version: str | None = None
        self._ids = itertools.count(1)

    def note_client_version(self, version: str) -> None:
        self.client_version = version
        warn_if_unsupported(version)

    # -- lookups ----------------------------------------------------------------------------------
    def project_id(self, entity: str, project: str) -> int:
        with self.lock:
            if (entity, project) not in self.projects:
                self.projects[(entity, project)] = next(self._ids)
            return self.projects[(entity, project)]

    def find_run(self, name: str, project: str | None = None, entity: str | None = None) -> RunRecord | None:
        with self.lock:
            for (e, p, n), run in self.runs.items():
                if n == name and (project is None or p == project) and (entity is None or e == entity):
                    return run
        return None

    def get_run(self, entity: str, project: str, name: str) -> RunRecord | None:
        with self.lock:
            return self.runs.get((entity, project, name))

    def runs_in(self, entity: str | None, project: str | None) -> list[RunRecord]:
        with self.lock:
            return [
                r
                for (e, p, _), r in self.runs.items()
                if (entity is None or e == entity) and (project is None or p == project)
            ]

    def get_sweep(self, name: str, project: str | None = None, entity: str | None = None) -> SweepRecord | None:
        with self.lock:
            for (e, p, n), sweep in self.sweeps.items():
                if n == name and (project is None or p == project) and (entity is None or e == entity):
                    return sweep
        return None

    # -- runs -------------------------------------------------------------------------------------
    def upsert_run(self, data: dict[str, Any], client_id: str | None) -> tuple[RunRecord, bool]:
        """Apply an ``UpsertBucket`` input; returns the run and whether it was created."""
        with self.lock:
            name = data.get("name")
            entity = data.get("entity") or DEFAULT_ENTITY
            project = data.get("project") or DEFAULT_PROJECT
            existing = None
            if data.get("id"):
                existing = next((r for r in self.runs.values() if r.node_id == data["id"]), None)
                if existing is not None:
                    name = name or existing.id
                    entity, project = existing.entity, existing.project
            name = name or random_id()
            key = (entity, project, name)
            run = self.runs.get(key)
            inserted = run is None
            if run is None:
                self.project_id(entity, project)
                run = RunRecord(entity=entity, project=project, id=name, internal_id=next(self._ids))
                self.runs[key] = run
            elif run.finished and not client_id:
                # A plain (non-shared) re-init of a finished run is a resumed session: it runs again.
                run.state = "running"
                run.sessions += 1
                # A preempted run that is resumed is no longer preempting: it runs again.
                run.preempting = False
            run.upserts += 1
            if client_id and client_id not in run.shared_clients:
                run.shared_clients.append(client_id)
            raw = data.get("config")
            if raw:
                cfg = json.loads(raw) if isinstance(raw, str) else raw
                if isinstance(cfg, dict):
                    # Shared-mode writers each send only their own keys, so merge instead of replacing.
                    run.raw_config.update(cfg)
                    cli = run.wandb_config.get("cli_version")
                    if isinstance(cli, str) and cli:
                        self.note_client_version(cli)
            for attr, key_ in (
                ("display_name", "displayName"),
                ("description", "description"),
                ("notes", "notes"),
                ("group", "groupName"),
                ("job_type", "jobType"),
                ("host", "host"),
                ("program", "program"),
                ("commit", "commit"),
            ):
                if data.get(key_) is not None:
                    setattr(run, attr, data[key_])
            if data.get("tags") is not None:
                run.tags = list(data["tags"])
            if data.get("state") and not (run.finished and client_id):
                run.state = data["state"]
            if data.get("summaryMetrics"):
                summary = _loads(data["summaryMetrics"])
                if isinstance(summary, dict):
                    run.writers.setdefault(client_id or "", _Writer(client_id or "")).summary.update(summary)
            sweep_name = data.get("sweep")
            if sweep_name:
                run.sweep = sweep_name
                sweep = self.get_sweep(sweep_name, project, entity) or self.get_sweep(sweep_name)
                if sweep is not None:
                    if name not in sweep.run_names:
                        sweep.run_names.append(name)
                    sweep.updated_at = time.time()
            run.heartbeat_at = time.time()
            return run, inserted

    def file_stream(
        self, entity: str, project: str, name: str, body: dict[str, Any], client_id: str | None
    ) -> dict[str, Any]:
        """Apply one file_stream POST; returns the response body."""
        with self.lock:
            run = self.get_run(entity, project, name)
            if run is None:
                run, _ = self.upsert_run({"entity": entity, "project": project, "name": name}, None)
            writer = run.writers.setdefault(client_id or "", _Writer(client_id or ""))
            for fname, chunk in (body.get("files") or {}).items():
                offset = int(chunk.get("offset") or 0)
                content = list(chunk.get("content") or [])
                if fname == SUMMARY:
                    if content:
                        summary = _loads(content[-1])
                        if isinstance(summary, dict):
                            writer.summary = summary
                    continue
                lines = {HISTORY: run.history_lines, EVENTS: run.events_lines, OUTPUT: run.log_lines}.get(fname)
                if lines is None:
                    continue
                if client_id:
                    self._apply_shared(writer.index.setdefault(fname, {}), lines, offset, content)
                else:
                    self._apply_direct(lines, offset, content)
            for fname in body.get("uploaded") or ():
                if fname not in run.uploaded:
                    run.uploaded.append(fname)
            run.heartbeat_at = time.time()
            if body.get("preempting"):
                run.preempting = True
            if body.get("complete"):
                code = int(body.get("exitcode") or 0)
                writer.finished, writer.exit_code = True, code
                run.exit_code = code
                run.state = "finished" if code == 0 else "failed"
                if code == 0:  # a clean finish ends any preemption the run announced
                    run.preempting = False
                run.finish_count += 1
                run.finished_by.append(client_id or "")
            return {"stopped": True} if run.should_stop else {}

    @staticmethod
    def _apply_direct(lines: list[str], offset: int, content: list[str]) -> None:
        for i, line in enumerate(content):
            pos = offset + i
            if pos < len(lines):
                lines[pos] = line
            else:
                lines.append(line)

    @staticmethod
    def _apply_shared(index: dict[int, int], lines: list[str], offset: int, content: list[str]) -> None:
        # Every shared-mode writer counts from 0: map its offsets to our own line numbers, so writers
        # append instead of overwriting each other and a retried chunk replaces its own lines.
        for i, line in enumerate(content):
            pos = offset + i
            if pos in index:
                lines[index[pos]] = line
            else:
                index[pos] = len(lines)
                lines.append(line)

    def put_file(self, entity: str, project: str, name: str, path: str, data: bytes) -> None:
        with self.lock:
            if entity == INTERNAL_ENTITY:
                self.internal_files.setdefault((entity, project, name), {})[path] = data
                return
            run = self.get_run(entity, project, name)
            if run is None:
                run, _ = self.upsert_run({"entity": entity, "project": project, "name": name}, None)
            run.files[path] = data
            run.file_times[path] = time.time()

    def get_file(self, entity: str, project: str, name: str, path: str) -> bytes | None:
        with self.lock:
            if entity == INTERNAL_ENTITY:
                return self.internal_files.get((entity, project, name), {}).get(path)
            run = self.get_run(entity, project, name)
            return None if run is None else run.files.get(path)

    # -- sweeps -----------------------------------------------------------------------------------
    def upsert_sweep(self, data: dict[str, Any], default_entity: str) -> SweepRecord:
        import yaml

        with self.lock:
            sweep_id = data.get("id")
            existing = None
            if sweep_id:
                existing = next(
                    (s for s in self.sweeps.values() if s.name == sweep_id or opaque_id("Sweep", s.name) == sweep_id),
                    None,
                )
            if existing is not None:
                if data.get("state"):
                    existing.state = str(data["state"]).upper()
                if data.get("config"):
                    existing.config_yaml = data["config"]
                    existing.config = yaml.safe_load(data["config"]) or {}
                existing.updated_at = time.time()
                return existing
            raw = data.get("config") or ""
            config = yaml.safe_load(raw) if isinstance(raw, str) else dict(raw)
            if not isinstance(config, dict):
                raise ValueError("sweep config must be a mapping")
            entity = data.get("entityName") or config.get("entity") or default_entity
            project = data.get("projectName") or config.get("project") or DEFAULT_PROJECT
            sweep = SweepRecord(
                entity=entity,
                project=project,
                name=random_id(8),
                config=config,
                config_yaml=raw if isinstance(raw, str) else yaml.safe_dump(config),
                display_name=data.get("displayName"),
                description=data.get("description"),
            )
            if data.get("state"):
                sweep.state = str(data["state"]).upper()
            self.project_id(entity, project)
            self.sweeps[(entity, project, sweep.name)] = sweep
            self._adopt_prior_runs(sweep, data.get("priorRunsFilters"))
            return sweep

    def _adopt_prior_runs(self, sweep: SweepRecord, filters: Any) -> None:
        """``wandb.sweep(prior_runs=[...])``: the runs its ``{"$or": [{"name": id}, ...]}`` names join it."""
        if isinstance(filters, str):
            filters = json.loads(filters or "{}")
        names = {f.get("name") for f in (filters or {}).get("$or", []) if isinstance(f, dict)}
        for run in self.runs.values():
            if run.id in names and run.project == sweep.project and run.entity == sweep.entity:
                run.sweep = sweep.name
                if run.id not in sweep.run_names:
                    sweep.run_names.append(run.id)

    def sweep_runs(self, sweep: SweepRecord) -> list[RunRecord]:
        with self.lock:
            return [r for r in self.runs.values() if r.sweep == sweep.name and r.project == sweep.project]

    # -- snapshots --------------------------------------------------------------------------------
    def snapshot(self, with_files: bool = False) -> dict[str, Any]:
        with self.lock:
            return {
                "runs": [r.snapshot(with_files) for r in self.runs.values()],
                "sweeps": [s.snapshot() for s in self.sweeps.values()],
                "unknown_operations": list(self.unknown_operations),
            }
