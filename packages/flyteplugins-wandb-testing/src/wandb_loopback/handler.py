"""The HTTP side of the server: GraphQL, file_stream, file storage and the ``/_loopback/`` controls.

``LoopbackServer`` (server.py) owns the state; this module only routes requests to it and applies
its failure switches (status codes, dropped connections, latency) before answering.
"""

from __future__ import annotations

import base64
import gzip
import json
import socket
import sys
import threading
import time
import traceback
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from .projector import Operation
from .protocol import client_version, protocol_gap
from .records import HISTORY
from .schema import GraphQLFailure

if TYPE_CHECKING:
    from .server import LoopbackServer


class HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # Keep-alive connections from wandb-core would make server_close wait for their threads.
    block_on_close = False
    allow_reuse_address = True
    # socketserver's default listen backlog is 5: twenty runs finishing at once (each wandb-core
    # opening connections for its file stream and uploads) overflow it, and the kernel drops their
    # connection attempts until the client retransmits 1-3 s later. A real server's backlog is larger.
    request_queue_size = 256

    def __init__(self, addr: tuple[str, int], owner: LoopbackServer) -> None:
        self.owner = owner
        self.open_conns: set[socket.socket] = set()
        self.conns_lock = threading.Lock()
        super().__init__(addr, Handler)

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


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes on a keep-alive connection: with Nagle's algorithm the
    # body waited for the client's delayed ACK, ~40 ms on every request (register, heartbeat, upload).
    disable_nagle_algorithm = True
    server: HTTPServer

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
        self, status: int, body: bytes | dict[str, Any] | list[Any] = b"", content_type: str = "application/json"
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

    def _client_version(self) -> str | None:
        """The wandb version of this request (User-Agent), else the last one the server saw."""
        store = self.server.owner.store
        version = client_version(self.headers.get("User-Agent"))
        if version:
            store.note_client_version(version)
        return version or store.client_version

    def _unknown(self, what: str, status: int = 404) -> None:
        message = protocol_gap(what, version=self._client_version())
        self.server.owner.store.unknown_operations.append(what)
        self._send(status, {"error": message, "errors": [{"message": message}]})

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
        url = urlparse(self.path)
        path = url.path
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
            with_files = "files=1" in url.query.split("&")
            self._send(200, self.server.owner.store.snapshot(with_files))
        elif path in ("/", "/healthz", "/ready"):
            self._send(200, b"wandb loopback server\n", "text/plain")
        else:
            self._unknown(f"GET {path}")

    def do_HEAD(self) -> None:
        self._send(200, b"", "text/plain")

    def do_PUT(self) -> None:
        path = urlparse(self.path).path
        body = self._body()
        if not path.startswith("/storage/"):
            self._unknown(f"PUT {path}")
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
                self._unknown(f"file_stream with bad path {path}")
                return
            try:
                payload = json.loads(body or b"{}")
            except ValueError:
                self._send(400, {"error": "file_stream body is not JSON"})
                return
            client = self.headers.get("X-Wandb-Async-Client-Id") or None
            entity, project, run = (unquote(p) for p in parts)
            if self._cut_history(payload, entity, project, run, client):
                return
            response = owner.store.file_stream(entity, project, run, payload, client)
            self._send(200, response)
        else:
            self._unknown(f"POST {path}")

    def _cut_history(self, payload: dict[str, Any], entity: str, project: str, run: str, client: Any) -> bool:
        """``cut_history``: keep this POST's history rows up to the cut, drop the connection."""
        cut = self.server.owner.history_cut
        chunk = (payload.get("files") or {}).get(HISTORY) if cut is not None else None
        if cut is None or not isinstance(chunk, dict):
            return False
        offset, content = int(chunk.get("offset") or 0), list(chunk.get("content") or [])
        if offset + len(content) <= cut:
            return False
        kept = {"offset": offset, "content": content[: max(0, cut - offset)]}
        self.server.owner.store.file_stream(entity, project, run, {"files": {HISTORY: kept}}, client)
        self.close_connection = True
        with suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        return True

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
        version = self._client_version()
        if self._fault(name):
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        schema = owner.schema
        root = schema.mutation_root(headers) if op.kind == "mutation" else schema.query_root(headers)
        missing = [f for f in op.root_fields() if f not in root and not f.startswith("__")]
        if missing:
            # An operation this server does not model (a newer wandb): answering null would let the
            # SDK misread it, so fail loudly with the protocol gap in the message and the log.
            owner.store.unknown_operations.append(f"{op.kind} {name}: {missing}")
            message = protocol_gap(f"{op.kind} {name}", missing, version=version)
            self._send(200, {"data": None, "errors": [{"message": message}]})
            return
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
        elif path == "/_loopback/cut-history":
            owner.cut_history(int(args["after"]))
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
