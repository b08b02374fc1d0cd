"""What the loopback server stores: runs (config, history, summary, console, files), sweeps, agents.

Everything is kept in memory behind one lock. Tests read it through the ``RunRecord`` /
``SweepRecord`` accessors (``history``, ``summary``, ``config``, ``files``...), never through the
client, because the wandb SDK often exits 0 after losing data.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import random
import string
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

DEFAULT_ENTITY = "loopback"
DEFAULT_PROJECT = "uncategorized"

HISTORY = "wandb-history.jsonl"
EVENTS = "wandb-events.jsonl"
SUMMARY = "wandb-summary.json"
OUTPUT = "output.log"


def now_iso(ts: float | None = None) -> str:
    return datetime.fromtimestamp(ts if ts is not None else time.time(), tz=timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S"
    )


def opaque_id(*parts: str) -> str:
    return base64.b64encode(":".join(parts).encode()).decode()


def random_id(n: int = 8) -> str:
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=n))


def _loads(line: str) -> Any:
    try:
        return json.loads(line)
    except (TypeError, ValueError):
        return None


def _unwrap_config(config: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.get("value") if isinstance(v, dict) and "value" in v else v) for k, v in config.items()}


@dataclass
class _Writer:
    """One file_stream client: its own line offsets mapped to the run's stored line indices."""

    client_id: str
    index: dict[str, dict[int, int]] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    finished: bool = False
    exit_code: int | None = None


@dataclass
class RunRecord:
    """One run as the server holds it."""

    entity: str
    project: str
    name: str
    internal_id: int
    display_name: str | None = None
    state: str = "running"
    raw_config: dict[str, Any] = field(default_factory=dict)
    history_lines: list[str] = field(default_factory=list)
    events_lines: list[str] = field(default_factory=list)
    log_lines: list[str] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    file_times: dict[str, float] = field(default_factory=dict)
    uploaded: list[str] = field(default_factory=list)
    sweep: str | None = None
    group: str | None = None
    job_type: str | None = None
    tags: list[str] = field(default_factory=list)
    notes: str | None = None
    description: str | None = None
    host: str | None = None
    program: str | None = None
    commit: str | None = None
    created_at: float = field(default_factory=time.time)
    heartbeat_at: float = field(default_factory=time.time)
    exit_code: int | None = None
    finish_count: int = 0
    finished_by: list[str] = field(default_factory=list)
    upserts: int = 0
    sessions: int = 1
    should_stop: bool = False
    writers: dict[str, _Writer] = field(default_factory=dict)
    # client ids (X-Wandb-Client-Id) that upserted this run in shared mode
    shared_clients: list[str] = field(default_factory=list)

    # -- accessors used by tests -----------------------------------------------------------------
    @property
    def path(self) -> str:
        return f"{self.entity}/{self.project}/{self.name}"

    @property
    def id(self) -> str:
        return opaque_id("Run", "v1", self.name, self.project, self.entity)

    @property
    def config(self) -> dict[str, Any]:
        """User config, unwrapped from ``{"k": {"value": v}}``, without ``_wandb``."""
        cfg = _unwrap_config(self.raw_config)
        cfg.pop("_wandb", None)
        return cfg

    @property
    def wandb_config(self) -> dict[str, Any]:
        value = self.raw_config.get("_wandb")
        return value.get("value", value) if isinstance(value, dict) else {}

    @property
    def history(self) -> list[dict[str, Any]]:
        return [row for row in (_loads(line) for line in self.history_lines) if isinstance(row, dict)]

    @property
    def events(self) -> list[dict[str, Any]]:
        return [row for row in (_loads(line) for line in self.events_lines) if isinstance(row, dict)]

    @property
    def summary(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for writer in self.writers.values():
            merged.update(writer.summary)
        return merged

    @property
    def console(self) -> list[str]:
        """Console lines without the timestamp the SDK prefixes."""
        out = []
        for line in self.log_lines:
            head, _, rest = line.partition(" ")
            out.append(rest if head[:4].isdigit() and "T" in head else line)
        return out

    @property
    def finished(self) -> bool:
        return self.state in ("finished", "failed", "crashed")

    def metric(self, key: str) -> list[Any]:
        """Every logged value of ``key``, in stored order."""
        return [row[key] for row in self.history if key in row]

    def file_md5(self, name: str) -> str:
        return base64.b64encode(hashlib.md5(self.files.get(name, b"")).digest()).decode()

    def snapshot(self) -> dict[str, Any]:
        """A JSON-safe view of the run (the control endpoint and the subprocess handle use it)."""
        return {
            "entity": self.entity,
            "project": self.project,
            "name": self.name,
            "display_name": self.display_name,
            "state": self.state,
            "config": self.config,
            "raw_config": self.raw_config,
            "history": self.history,
            "events": self.events,
            "summary": self.summary,
            "console": self.console,
            "files": sorted(self.files),
            "uploaded": list(self.uploaded),
            "sweep": self.sweep,
            "group": self.group,
            "job_type": self.job_type,
            "tags": list(self.tags),
            "notes": self.notes,
            "exit_code": self.exit_code,
            "finish_count": self.finish_count,
            "finished_by": list(self.finished_by),
            "upserts": self.upserts,
            "sessions": self.sessions,
            "writers": sorted(self.writers),
            "shared_clients": list(self.shared_clients),
            "created_at": self.created_at,
        }


@dataclass
class Handout:
    """A parameter set the controller gave an agent, until a run with that id appears."""

    run_id: str
    agent_id: str
    params: dict[str, Any]
    at: float
    seen_running: bool = False


@dataclass
class AgentRecord:
    id: str
    sweep: str
    host: str | None
    created_at: float = field(default_factory=time.time)
    last_heartbeat: float = field(default_factory=time.time)
    interval: float = 5.0
    heartbeats: int = 0
    exited: bool = False
    commands: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class SweepRecord:
    """One sweep: config, state, agents and the parameter sets handed out."""

    entity: str
    project: str
    name: str
    config: dict[str, Any]
    config_yaml: str
    state: str = "RUNNING"
    display_name: str | None = None
    description: str | None = None
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    agents: dict[str, AgentRecord] = field(default_factory=dict)
    handouts: dict[str, Handout] = field(default_factory=dict)
    # parameter sets whose handout was dropped (agent died or skipped it): issued again first
    reissue: list[dict[str, Any]] = field(default_factory=list)
    run_names: list[str] = field(default_factory=list)
    controller: str = "loopback"

    @property
    def method(self) -> str:
        return str(self.config.get("method", ""))

    @property
    def path(self) -> str:
        return f"{self.entity}/{self.project}/{self.name}"

    def snapshot(self) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "project": self.project,
            "name": self.name,
            "config": self.config,
            "state": self.state,
            "runs": list(self.run_names),
            "agents": {
                a.id: {"heartbeats": a.heartbeats, "commands": a.commands, "exited": a.exited}
                for a in self.agents.values()
            },
        }


class Store:
    """All server state, behind ``lock``. Methods that mutate take the lock themselves."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.runs: dict[tuple[str, str, str], RunRecord] = {}
        self.sweeps: dict[tuple[str, str, str], SweepRecord] = {}
        self.agents: dict[str, AgentRecord] = {}
        self.projects: dict[tuple[str, str], int] = {}
        self.requests: list[dict[str, Any]] = []
        self.unknown_operations: list[str] = []
        self._ids = itertools.count(1)

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

    def get_sweep(
        self, name: str, project: str | None = None, entity: str | None = None
    ) -> SweepRecord | None:
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
                existing = next((r for r in self.runs.values() if r.id == data["id"]), None)
                if existing is not None:
                    name = name or existing.name
                    entity, project = existing.entity, existing.project
            name = name or random_id()
            key = (entity, project, name)
            run = self.runs.get(key)
            inserted = run is None
            if run is None:
                self.project_id(entity, project)
                run = RunRecord(entity=entity, project=project, name=name, internal_id=next(self._ids))
                self.runs[key] = run
            elif run.finished and not client_id:
                # A plain (non-shared) re-init of a finished run is a resumed session: it runs again.
                run.state = "running"
                run.sessions += 1
            run.upserts += 1
            if client_id and client_id not in run.shared_clients:
                run.shared_clients.append(client_id)
            raw = data.get("config")
            if raw:
                cfg = json.loads(raw) if isinstance(raw, str) else raw
                if isinstance(cfg, dict):
                    # Shared-mode writers each send only their own keys, so merge instead of replacing.
                    run.raw_config.update(cfg)
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
                lines = {HISTORY: run.history_lines, EVENTS: run.events_lines, OUTPUT: run.log_lines}.get(
                    fname
                )
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
            if body.get("complete"):
                code = int(body.get("exitcode") or 0)
                writer.finished, writer.exit_code = True, code
                run.exit_code = code
                run.state = "finished" if code == 0 else "failed"
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
            run = self.get_run(entity, project, name)
            if run is None:
                run, _ = self.upsert_run({"entity": entity, "project": project, "name": name}, None)
            run.files[path] = data
            run.file_times[path] = time.time()

    def get_file(self, entity: str, project: str, name: str, path: str) -> bytes | None:
        with self.lock:
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
                    (
                        s
                        for s in self.sweeps.values()
                        if s.name == sweep_id or opaque_id("Sweep", s.name) == sweep_id
                    ),
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
            return sweep

    def sweep_runs(self, sweep: SweepRecord) -> list[RunRecord]:
        with self.lock:
            return [r for r in self.runs.values() if r.sweep == sweep.name and r.project == sweep.project]

    # -- snapshots --------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "runs": [r.snapshot() for r in self.runs.values()],
                "sweeps": [s.snapshot() for s in self.sweeps.values()],
                "unknown_operations": list(self.unknown_operations),
            }
