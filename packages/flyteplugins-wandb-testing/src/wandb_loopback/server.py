"""``LoopbackServer``: the W&B-protocol server in a thread of this process, its state and switches.

Tests read ``store`` (or ``runs()`` / ``run()`` / ``sweeps()``) directly and flip failure switches:
``fail`` (HTTP status or dropped connections), ``slow``, ``kill`` (refuses connections), ``restart``.
``LoopbackProcess`` (process.py) runs the same server as a separate, SIGKILL-able process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from .handler import HTTPServer
from .records import AgentRecord
from .schema import Schema
from .store import DEFAULT_ENTITY, RunRecord, Store, SweepRecord

DUMMY_API_KEY = "loopback-" + "0" * 40  # the SDK rejects keys shorter than 40 characters
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass
class Fault:
    """Answer matching requests with ``status`` (or drop the connection when ``status`` is 0)."""

    status: int
    match: str | None = None
    remaining: int | None = None
    hits: int = 0

    def applies(self, name: str) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        return self.match is None or self.match.lower() in name.lower()


def check_fault(status: int, times: int | None) -> None:
    """Reject switches that would silently do nothing (a typo must not turn a fault test green)."""
    if not isinstance(status, int) or not (status == 0 or 100 <= status <= 599):
        raise ValueError(f"status must be 0 (drop the connection) or an HTTP status 100-599, got {status!r}")
    if times is not None and (not isinstance(times, int) or times < 1):
        raise ValueError(f"times must be None (until heal()) or a positive int, got {times!r}")


class LoopbackServer:
    """A W&B-protocol server on 127.0.0.1, in a background thread of this process.

    Args:
        host: A loopback address (``127.0.0.1``, ``localhost`` or ``::1``).
        port: 0 picks a free port.
        entity: The entity reported as the viewer's default (runs without ``entity=`` land there).
        api_key: When set, requests without this key get HTTP 401 (for auth-failure tests).
        verbose: Log every request to stderr.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        entity: str = DEFAULT_ENTITY,
        api_key: str | None = None,
        verbose: bool = False,
    ) -> None:
        if host not in LOOPBACK_HOSTS:
            raise ValueError(f"the loopback server binds loopback addresses only {LOOPBACK_HOSTS}, got {host!r}")
        self.host = host
        self.port = port
        self.api_key = api_key
        self.verbose = verbose
        self.store = Store()
        self.faults: list[Fault] = []
        self.latency: list[tuple[str | None, float]] = []
        self.history_cut: int | None = None
        self.dead = False
        self._faults_lock = threading.Lock()
        self._httpd: HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.schema = Schema(self.store, self.url if port else "", entity)
        self.entity = entity

    # -- lifecycle --------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> LoopbackServer:
        self.dead = False
        self._httpd = HTTPServer((self.host, self.port), self)
        self.port = self._httpd.server_address[1]
        self.schema.base_url = self.url
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"wandb-loopback-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (graceful: in-flight requests finish)."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        httpd.drop_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def kill(self) -> None:
        """Die abruptly: stop listening and cut every open connection without answering.

        To clients this looks like a crashed server: new connections are refused and requests in
        flight fail. ``restart()`` brings the same server (same port, same data) back.
        """
        self.dead = True
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        httpd.drop_connections()

    def restart(self) -> None:
        """Come back on the same port with the same data (after ``kill()``, or as a blip)."""
        self.kill()
        self.start()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def env(self) -> dict[str, str]:
        """Environment variables that point the wandb SDK at this server."""
        return {"WANDB_BASE_URL": self.url, "WANDB_API_KEY": self.api_key or DUMMY_API_KEY}

    # -- failure switches -------------------------------------------------------------------------
    def fail(self, status: int = 500, match: str | None = None, times: int | None = None) -> Fault:
        """Answer requests whose operation (``UpsertBucket``, ``file_stream``, ``storage``...) contains
        ``match`` with HTTP ``status`` (0: drop the connection), ``times`` times or until ``heal()``."""
        check_fault(status, times)
        fault = Fault(status=status, match=match, remaining=times)
        with self._faults_lock:
            self.faults.append(fault)
        return fault

    def heal(self) -> None:
        """Clear every fault, added latency and history cut."""
        with self._faults_lock:
            self.faults.clear()
            self.latency.clear()
            self.history_cut = None

    def cut_history(self, after: int) -> None:
        """Lose the connection of any upload that takes a run's history past ``after`` rows.

        The file_stream POST that crosses ``after`` keeps the rows up to it (the server took them)
        and gets no answer; every later POST carrying rows past ``after`` is dropped the same way,
        until ``heal()``: an upload cut off in the middle, for resume and idempotency tests.
        """
        if not isinstance(after, int) or isinstance(after, bool) or after < 0:
            raise ValueError(f"after must be an int >= 0 (history rows kept), got {after!r}")
        with self._faults_lock:
            self.history_cut = after

    def slow(self, seconds: float, match: str | None = None) -> None:
        """Add ``seconds`` of latency to requests matching ``match`` (all when None): a distant server."""
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {seconds!r}")
        with self._faults_lock:
            self.latency.append((match, seconds))

    def latency_for(self, name: str) -> float:
        with self._faults_lock:
            return sum(s for m, s in self.latency if m is None or m.lower() in name.lower())

    @contextmanager
    def failing(self, status: int = 500, match: str | None = None) -> Iterator[Fault]:
        """``fail()`` for the duration of a ``with`` block."""
        fault = self.fail(status, match)
        try:
            yield fault
        finally:
            with self._faults_lock:
                if fault in self.faults:
                    self.faults.remove(fault)

    def matching_fault(self, name: str) -> Fault | None:
        with self._faults_lock:
            for fault in self.faults:
                if fault.applies(name):
                    fault.hits += 1
                    if fault.remaining is not None:
                        fault.remaining -= 1
                    return fault
        return None

    def log_request(self, name: str, headers: Any) -> None:
        with self.store.lock:
            self.store.requests.append({"op": name, "at": time.time(), "agent": headers.get("User-Agent")})

    # -- stored state -----------------------------------------------------------------------------
    def runs(self, project: str | None = None, entity: str | None = None) -> list[RunRecord]:
        """Every stored run (optionally of one project / entity), oldest first."""
        return self.store.runs_in(entity, project)

    def run(self, run_id: str, project: str | None = None) -> RunRecord:
        """The stored run with id ``run_id``; KeyError naming the runs that exist when it is missing."""
        run = self.store.find_run(run_id, project)
        if run is None:
            raise KeyError(f"no run {run_id!r} on the loopback server; runs: {[r.path for r in self.runs()]}")
        return run

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
        """Poll ``predicate`` until it returns something truthy (returned) or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.05)
        raise TimeoutError(f"loopback server: timed out after {timeout}s waiting for {what}")

    def artifact_lineage(self) -> list[dict[str, Any]]:
        """Every artifact version: name, type, aliases, metadata, its logging run and its using runs."""
        with self.store.lock:
            return self.schema.artifacts.lineage()

    def sweeps(self) -> list[SweepRecord]:
        with self.store.lock:
            return list(self.store.sweeps.values())

    def sweep(self, name: str) -> SweepRecord:
        """The stored sweep ``name``; KeyError naming the sweeps that exist when it is missing."""
        sweep = self.store.get_sweep(name)
        if sweep is None:
            raise KeyError(f"no sweep {name!r} on the loopback server; sweeps: {[s.path for s in self.sweeps()]}")
        return sweep

    def agents(self, sweep: str | None = None) -> list[AgentRecord]:
        """Every sweep agent that registered (of one sweep when ``sweep`` is given)."""
        with self.store.lock:
            return [a for a in self.store.agents.values() if sweep is None or a.sweep == sweep]

    def operations(self) -> list[str]:
        """The GraphQL operations received, in order (e.g. ``"UpsertBucket"``)."""
        with self.store.lock:
            return [r["op"] for r in self.store.requests]

    @property
    def unknown_operations(self) -> list[str]:
        """Requests the server does not model (each also answered with an error and logged)."""
        return list(self.store.unknown_operations)
