"""The HTTP side: GraphQL, file_stream, file storage, failure switches and a small control API.

``LoopbackServer`` runs in a thread of the calling process (fast, and tests read ``store`` directly);
``LoopbackProcess`` runs the same server as a separate ``python -m wandb_loopback`` process that can
be SIGKILLed. Both bind 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse
from urllib.request import Request, urlopen

from .projector import Operation
from .schema import GraphQLFailure, Schema
from .store import DEFAULT_ENTITY, RunRecord, Store, SweepRecord

DUMMY_API_KEY = "loopback-" + "0" * 40  # the SDK rejects keys shorter than 40 characters


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


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # Keep-alive connections from wandb-core would make server_close wait for their threads.
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], owner: LoopbackServer) -> None:
        self.owner = owner
        self.open_conns: set[socket.socket] = set()
        self.conns_lock = threading.Lock()
        super().__init__(addr, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        # Clients (and kill()) drop keep-alive connections all the time; only real bugs are printed.
        if isinstance(exc, (ConnectionError, TimeoutError, OSError)) and not self.owner.verbose:
            return
        super().handle_error(request, client_address)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.conns_lock:
            self.open_conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.conns_lock:
            self.open_conns.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        with self.conns_lock:
            conns, self.open_conns = list(self.open_conns), set()
        for conn in conns:
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            with suppress(OSError):
                conn.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.owner.verbose:
            sys.stderr.write("loopback: " + (format % args) + "\n")

    # -- plumbing ---------------------------------------------------------------------------------
    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else b""
        if self.headers.get("Content-Encoding") == "gzip" or data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        return data

    def _send(
        self,
        status: int,
        body: bytes | dict[str, Any] | list[Any] = b"",
        content_type: str = "application/json",
    ) -> None:
        if self.server.owner.dead:
            return
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _authorized(self) -> bool:
        key = self.server.owner.api_key
        if key is None:
            return True
        header = self.headers.get("Authorization") or ""
        if header.startswith("Basic "):
            try:
                _user, _, given = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return False
            return given == key
        return header == f"Bearer {key}"

    def _fault(self, name: str) -> bool:
        owner = self.server.owner
        pause = owner.latency_for(name)
        if pause:
            time.sleep(pause)
        fault = owner.matching_fault(name)
        if fault is None:
            return False
        if fault.status == 0:
            self.close_connection = True
            with suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return True
        self._send(fault.status, {"errors": [{"message": f"loopback fault {fault.status} for {name}"}]})
        return True

    # -- verbs ------------------------------------------------------------------------------------
    def do_GET(self) -> None:
        path = urlparse(self.path).path
        if path.startswith("/storage/"):
            if self._fault("storage"):
                return
            parts = path[len("/storage/") :].split("/", 3)
            if len(parts) == 4:
                data = self.server.owner.store.get_file(*(unquote(p) for p in parts))
                if data is not None:
                    self._send(200, data, "application/octet-stream")
                    return
            self._send(404, {"error": "not found"})
        elif path == "/_loopback/state":
            self._send(200, self.server.owner.store.snapshot())
        elif path in ("/", "/healthz", "/ready"):
            self._send(200, b"wandb loopback server\n", "text/plain")
        else:
            self._send(404, {"error": f"no route for GET {path}"})

    def do_HEAD(self) -> None:
        self._send(200, b"", "text/plain")

    def do_PUT(self) -> None:
        path = urlparse(self.path).path
        body = self._body()
        if not path.startswith("/storage/"):
            self._send(404, {"error": f"no route for PUT {path}"})
            return
        if self._fault("storage"):
            return
        parts = path[len("/storage/") :].split("/", 3)
        if len(parts) != 4:
            self._send(400, {"error": "bad storage path"})
            return
        entity, project, run, name = (unquote(p) for p in parts)
        self.server.owner.store.put_file(entity, project, run, name, body)
        self._send(200, b"", "text/plain")

    def do_POST(self) -> None:
        path = urlparse(self.path).path
        body = self._body()
        owner = self.server.owner
        if path.startswith("/sdk/otel/"):
            # Telemetry proxy: a 404 makes the SDK stop after its probe.
            self._send(404, {"error": "telemetry disabled"})
            return
        if path.startswith("/_loopback/"):
            self._control(path, body)
            return
        if not self._authorized():
            self._send(401, {"errors": [{"message": "loopback: invalid API key"}]})
            return
        if path in ("/graphql", "/api/graphql"):
            self._graphql(body)
        elif path.startswith("/files/") and path.endswith("/file_stream"):
            if self._fault("file_stream"):
                return
            parts = path[len("/files/") : -len("/file_stream")].strip("/").split("/")
            if len(parts) != 3 or not all(parts):
                owner.store.unknown_operations.append(f"file_stream with bad path {path}")
                self._send(404, {"error": f"bad file_stream path {path}"})
                return
            try:
                payload = json.loads(body or b"{}")
            except ValueError:
                self._send(400, {"error": "file_stream body is not JSON"})
                return
            client = self.headers.get("X-Wandb-Async-Client-Id") or None
            entity, project, run = (unquote(p) for p in parts)
            response = owner.store.file_stream(entity, project, run, payload, client)
            self._send(200, response)
        else:
            owner.store.unknown_operations.append(f"POST {path}")
            self._send(404, {"error": f"no route for POST {path}"})

    def _graphql(self, body: bytes) -> None:
        owner = self.server.owner
        try:
            payload = json.loads(body or b"{}")
            op = Operation(payload.get("query") or "", payload.get("operationName"), payload.get("variables"))
        except Exception as exc:  # a malformed request is the client's bug: make it visible
            owner.store.unknown_operations.append(f"unparseable GraphQL: {exc}")
            self._send(400, {"errors": [{"message": f"cannot parse request: {exc}"}]})
            return
        name = op.name or "+".join(op.root_fields())
        owner.log_request(name, self.headers)
        if self._fault(name):
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        schema = owner.schema
        root = schema.mutation_root(headers) if op.kind == "mutation" else schema.query_root(headers)
        missing = [f for f in op.root_fields() if f not in root and not f.startswith("__")]
        if missing:
            owner.store.unknown_operations.append(f"{op.kind} {name}: {missing}")
        try:
            with owner.store.lock:
                data = op.project(root)
        except GraphQLFailure as exc:
            self._send(200, {"data": None, "errors": [{"message": str(exc)}]})
            return
        except Exception as exc:
            owner.store.unknown_operations.append(f"{name} crashed: {exc!r}")
            if owner.verbose:
                traceback.print_exc()
            self._send(500, {"errors": [{"message": f"loopback server error in {name}: {exc}"}]})
            return
        self._send(200, {"data": data})

    def _control(self, path: str, body: bytes) -> None:
        owner = self.server.owner
        args = json.loads(body or b"{}")
        if path == "/_loopback/fail":
            owner.fail(status=int(args.get("status", 500)), match=args.get("match"), times=args.get("times"))
        elif path == "/_loopback/heal":
            owner.heal()
        elif path == "/_loopback/slow":
            owner.slow(float(args.get("seconds", 0)), args.get("match"))
        elif path == "/_loopback/stop-run":
            run = owner.store.find_run(args["run"], args.get("project"))
            if run is not None:
                run.should_stop = True
        else:
            self._send(404, {"error": f"no control {path}"})
            return
        self._send(200, {"ok": True})


class LoopbackServer:
    """A W&B-protocol server on 127.0.0.1, in a background thread of this process.

    Args:
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
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"the loopback server binds loopback addresses only, got {host!r}")
        self.host = host
        self.port = port
        self.api_key = api_key
        self.verbose = verbose
        self.store = Store()
        self.faults: list[Fault] = []
        self.latency: list[tuple[str | None, float]] = []
        self.dead = False
        self._faults_lock = threading.Lock()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.schema = Schema(self.store, self.url if port else "", entity)
        self.entity = entity

    # -- lifecycle --------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> LoopbackServer:
        self.dead = False
        self._httpd = _HTTPServer((self.host, self.port), self)
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
        fault = Fault(status=status, match=match, remaining=times)
        with self._faults_lock:
            self.faults.append(fault)
        return fault

    def heal(self) -> None:
        """Clear every fault and added latency."""
        with self._faults_lock:
            self.faults.clear()
            self.latency.clear()

    def slow(self, seconds: float, match: str | None = None) -> None:
        """Add ``seconds`` of latency to requests matching ``match`` (all when None): a distant server."""
        with self._faults_lock:
            self.latency.append((match, seconds))

    def latency_for(self, name: str) -> float:
        with self._faults_lock:
            return sum(s for m, s in self.latency if m is None or m.lower() in name.lower())

    @contextmanager
    def failing(self, status: int = 500, match: str | None = None) -> Iterator[Fault]:
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
        return self.store.runs_in(entity, project)

    def run(self, name: str, project: str | None = None) -> RunRecord:
        """The stored run ``name``; KeyError naming the runs that exist when it is missing."""
        run = self.store.find_run(name, project)
        if run is None:
            raise KeyError(f"no run {name!r} on the loopback server; runs: {[r.path for r in self.runs()]}")
        return run

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.05)
        raise TimeoutError(f"loopback server: timed out after {timeout}s waiting for {what}")

    def sweeps(self) -> list[SweepRecord]:
        with self.store.lock:
            return list(self.store.sweeps.values())

    def sweep(self, name: str) -> SweepRecord:
        sweep = self.store.get_sweep(name)
        if sweep is None:
            raise KeyError(f"no sweep {name!r} on the loopback server")
        return sweep

    def operations(self) -> list[str]:
        with self.store.lock:
            return [r["op"] for r in self.store.requests]

    @property
    def unknown_operations(self) -> list[str]:
        return list(self.store.unknown_operations)


class LoopbackProcess:
    """The same server as a separate process (``python -m wandb_loopback``), for real crashes."""

    def __init__(self, port: int = 0, *, api_key: str | None = None) -> None:
        self.port = port
        self.api_key = api_key
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {"WANDB_BASE_URL": self.url, "WANDB_API_KEY": self.api_key or DUMMY_API_KEY}

    def start(self, timeout: float = 30.0) -> LoopbackProcess:
        cmd = [sys.executable, "-m", "wandb_loopback", "--port", str(self.port), "--quiet"]
        if self.api_key:
            cmd += ["--api-key", self.api_key]
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                [str(Path(__file__).resolve().parent.parent), os.environ.get("PYTHONPATH", "")]
            ),
        }
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if line.startswith("WANDB_BASE_URL="):
                self.port = int(line.strip().rsplit(":", 1)[1])
                return self
        self.kill()
        raise RuntimeError("loopback server process did not start")

    def kill(self) -> None:
        """SIGKILL: the server dies without closing anything."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def _call(self, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = Request(self.url + path, data=data, method="GET" if body is None else "POST")
        with urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def state(self) -> dict[str, Any]:
        return self._call("/_loopback/state")

    def runs(self) -> list[dict[str, Any]]:
        return self.state()["runs"]

    def run(self, name: str) -> dict[str, Any]:
        for run in self.runs():
            if run["name"] == name:
                return run
        raise KeyError(f"no run {name!r} on the loopback server process")

    def fail(self, status: int = 500, match: str | None = None, times: int | None = None) -> None:
        self._call("/_loopback/fail", {"status": status, "match": match, "times": times})

    def heal(self) -> None:
        self._call("/_loopback/heal", {})

    def __enter__(self) -> LoopbackProcess:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
