"""What the server holds per run and per sweep, as plain dataclasses tests read directly.

``RunRecord`` (config, history, summary, console, files, state, exit code), ``SweepRecord`` (config,
state, agents, runs) and ``AgentRecord``; ``snapshot()`` gives the JSON form the control endpoint and
``LoopbackProcess`` use.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import string
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
    return datetime.fromtimestamp(ts if ts is not None else time.time(), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


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
    """One run as the server holds it, named as ``wandb.Run`` names it.

    ``id`` is the run id (``run.id`` in the SDK, the last part of ``path``), ``name`` the display
    name (``run.name``), ``node_id`` the GraphQL node id the server hands out (base64).
    """

    entity: str
    project: str
    id: str
    internal_id: int
    # The display name as the client sent it (None when it sent none); `name` is what clients see.
    display_name: str | None = None
    state: str = "running"
    raw_config: dict[str, Any] = field(default_factory=dict)
    history_lines: list[str] = field(default_factory=list)
    rewinds: list[int] = field(default_factory=list)  # the _step of each rewindRun, in order
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
    # the SDK sent `"preempting": true` on file_stream (run.mark_preempting())
    preempting: bool = False
    writers: dict[str, _Writer] = field(default_factory=dict)
    # client ids (X-Wandb-Client-Id) that upserted this run in shared mode
    shared_clients: list[str] = field(default_factory=list)

    # -- accessors used by tests -----------------------------------------------------------------
    @property
    def path(self) -> str:
        return f"{self.entity}/{self.project}/{self.id}"

    @property
    def name(self) -> str:
        """The display name, as ``wandb.Run.name`` and the public API report it (the run id when the
        client set none, which is what this server answers)."""
        return self.display_name or self.id

    @property
    def node_id(self) -> str:
        """The run's GraphQL node id (``Run.id`` in GraphQL, e.g. ``UpsertBucket``'s ``bucket.id``)."""
        return opaque_id("Run", "v1", self.id, self.project, self.entity)

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

    def snapshot(self, with_files: bool = False) -> dict[str, Any]:
        """A JSON-safe view of the run (the control endpoint and the subprocess handle use it).

        ``files`` lists the names; with ``with_files`` the contents come too, base64 in ``file_data``.
        """
        out = {
            "entity": self.entity,
            "project": self.project,
            "id": self.id,
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
            "preempting": self.preempting,
            "finished_by": list(self.finished_by),
            "upserts": self.upserts,
            "sessions": self.sessions,
            "rewinds": list(self.rewinds),
            "writers": sorted(self.writers),
            "shared_clients": list(self.shared_clients),
            "created_at": self.created_at,
        }
        if with_files:
            out["file_data"] = {k: base64.b64encode(v).decode() for k, v in self.files.items()}
        return out

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> RunRecord:
        """Rebuild a record from ``snapshot()`` (how ``LoopbackProcess`` hands out what it stored)."""
        run = cls(
            entity=data["entity"],
            project=data["project"],
            id=data["id"],
            internal_id=0,
            display_name=data.get("display_name"),
            state=data.get("state", "running"),
            raw_config=dict(data.get("raw_config") or {}),
            history_lines=[json.dumps(row) for row in data.get("history") or []],
            events_lines=[json.dumps(row) for row in data.get("events") or []],
            log_lines=list(data.get("console") or []),
            uploaded=list(data.get("uploaded") or []),
            sweep=data.get("sweep"),
            group=data.get("group"),
            job_type=data.get("job_type"),
            tags=list(data.get("tags") or []),
            notes=data.get("notes"),
            exit_code=data.get("exit_code"),
            finish_count=int(data.get("finish_count") or 0),
            preempting=bool(data.get("preempting")),
            finished_by=list(data.get("finished_by") or []),
            upserts=int(data.get("upserts") or 0),
            sessions=int(data.get("sessions") or 1),
            rewinds=list(data.get("rewinds") or []),
            shared_clients=list(data.get("shared_clients") or []),
            created_at=float(data.get("created_at") or 0.0),
        )
        contents = data.get("file_data") or {}
        # Without contents a name still shows the file exists; its bytes are unknown (empty).
        run.files = {name: base64.b64decode(contents[name]) if name in contents else b"" for name in data["files"]}
        run.writers[""] = _Writer("", summary=dict(data.get("summary") or {}))
        return run


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
            "config_yaml": self.config_yaml,
            "state": self.state,
            "runs": list(self.run_names),
            "agents": {
                a.id: {"heartbeats": a.heartbeats, "commands": a.commands, "exited": a.exited, "host": a.host}
                for a in self.agents.values()
            },
        }

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> SweepRecord:
        """Rebuild a record from ``snapshot()`` (agents with their heartbeats and commands, run names)."""
        sweep = cls(
            entity=data["entity"],
            project=data["project"],
            name=data["name"],
            config=dict(data.get("config") or {}),
            config_yaml=data.get("config_yaml") or "",
            state=data.get("state", "RUNNING"),
            run_names=list(data.get("runs") or []),
        )
        for agent_id, agent in (data.get("agents") or {}).items():
            sweep.agents[agent_id] = AgentRecord(
                id=agent_id,
                sweep=sweep.name,
                host=agent.get("host"),
                heartbeats=int(agent.get("heartbeats") or 0),
                exited=bool(agent.get("exited")),
                commands=list(agent.get("commands") or []),
            )
        return sweep
