"""The W&B sweep-agent protocol for each online slot: register an agent, heartbeat for ``run``/``stop``/``exit``."""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time
from collections import deque
from typing import Any

from flyteplugins.wandb_core.ext import wandb_server

from ._compat import register_sweep_agent, sweep_agent_heartbeat

logger = logging.getLogger("flyteplugins.wandb_sweeps")

_api_lock = threading.Lock()
# While a trial runs, heartbeats only keep the agent alive and fetch stop commands.
TRIAL_HEARTBEAT_S = 2.0


def public_api(host: str | None, entity: str | None, project: str | None) -> Any:
    import wandb

    given = {"base_url": wandb_server(host).api_url, "entity": entity, "project": project}
    overrides = {k: v for k, v in given.items() if v}
    with _api_lock:  # concurrent first use of wandb.Api() races on wandb's service start
        return wandb.Api(overrides=overrides)


_agent_apis: dict[tuple[str | None, ...], Any] = {}
_agent_apis_lock = threading.Lock()


def agent_api(host: str | None, entity: str | None, project: str | None) -> Any:
    # One wandb.Api per server and credentials (15-30 ms each); the slots share its thread-safe HTTP session.
    key = (host, entity, project, os.environ.get("WANDB_BASE_URL"), os.environ.get("WANDB_API_KEY"))
    with _agent_apis_lock:
        api = _agent_apis.get(key)
        if api is None:
            api = _agent_apis[key] = public_api(host, entity, project)
    return api


class ServerAgent:
    """A registered W&B sweep agent: heartbeats carry the server controller's commands."""

    def __init__(self, sweep_id: str, project: str | None, entity: str | None, host: str | None) -> None:
        self.api = agent_api(host, entity, project)
        agent = register_sweep_agent(self.api, socket.gethostname(), sweep_id=sweep_id, project=project, entity=entity)
        if not (agent and agent.get("id")):
            raise RuntimeError(f"the W&B server did not register an agent for sweep {sweep_id!r}")
        self.agent_id = str(agent["id"])
        self._lock = threading.Lock()

    def heartbeat(self, running: dict[str, bool]) -> list[dict[str, Any]]:
        with self._lock:
            return sweep_agent_heartbeat(self.api, self.agent_id, running)


class TrialHeartbeat(threading.Thread):
    """Keeps the server informed while a trial runs and relays its commands."""

    def __init__(
        self, server: Any, run_id: str, interval: float, stop: threading.Event, pending: deque[dict[str, Any]]
    ) -> None:
        super().__init__(name=f"wandb-sweep-heartbeat-{run_id}", daemon=True)
        self.server, self.run_id, self.interval = server, run_id, interval
        self.stop_trial, self.pending = stop, pending
        self.done = threading.Event()
        self.exit_requested = False

    def run(self) -> None:
        while not self.done.wait(self.interval):
            try:
                commands = self.server.heartbeat({self.run_id: True})
            except Exception as exc:  # a missed heartbeat must not kill the trial
                logger.warning("sweep heartbeat failed: %s", exc)
                continue
            for command in commands[:1]:
                kind = command.get("type")
                if kind == "stop" and command.get("run_id") == self.run_id:
                    self.stop_trial.set()
                elif kind == "exit":
                    self.exit_requested = True
                elif kind in ("run", "resume"):
                    self.pending.append(command)


def next_command(
    server: Any, pending: deque[dict[str, Any]], poll_interval: float, idle_timeout: float, label: str
) -> dict[str, Any] | None:
    """Heartbeat until the server hands out a trial; ``None`` on ``exit`` or after ``idle_timeout``."""
    idle_since = time.monotonic()
    while True:
        if not pending:
            # Only commands[0] is meant to be read (as wandb.agent does).
            pending.extend(server.heartbeat({})[:1])
        if pending:
            command = pending.popleft()
            kind = command.get("type")
            if kind == "exit":
                return None
            if kind in ("run", "resume") and command.get("run_id"):
                return command
            continue  # a stop for a trial that is not running here
        if time.monotonic() - idle_since > idle_timeout:
            print(f"{label} got no trial for {idle_timeout:.0f}s; stopping.", file=sys.stderr, flush=True)
            return None
        time.sleep(poll_interval)
