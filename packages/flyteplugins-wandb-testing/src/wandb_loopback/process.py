"""``LoopbackProcess``: the server as a separate ``python -m wandb_loopback`` process.

For crashes as they really happen: ``kill()`` is a SIGKILL, so the server dies mid-request without
closing anything. State and failure switches go over HTTP (``/_loopback/...``); what it stored comes
back as the same ``RunRecord`` / ``SweepRecord`` objects the in-process server hands out.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

from .records import AgentRecord, RunRecord, SweepRecord
from .server import DUMMY_API_KEY, check_fault


class LoopbackProcess:
    """The same server as a separate process (``python -m wandb_loopback``), for real crashes.

    Args:
        port: 0 picks a free port (kept across ``restart()``).
        api_key: When set, requests without this key get HTTP 401.
    """

    def __init__(self, port: int = 0, *, api_key: str | None = None) -> None:
        self.port = port
        self.api_key = api_key
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment variables that point the wandb SDK at this server."""
        return {"WANDB_BASE_URL": self.url, "WANDB_API_KEY": self.api_key or DUMMY_API_KEY}

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> LoopbackProcess:
        cmd = [sys.executable, "-m", "wandb_loopback", "--port", str(self.port), "--quiet"]
        if self.api_key:
            cmd += ["--api-key", self.api_key]
        # The child imports this very copy of the package, installed or not.
        src = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
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
        raise RuntimeError(f"loopback server process did not start ({' '.join(cmd)})")

    def _close_pipe(self) -> None:
        # Only once the process is gone: closing earlier could break its pipe mid-print.
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()

    def kill(self) -> None:
        """SIGKILL: the server dies without closing anything; new connections are refused."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._close_pipe()

    def restart(self, timeout: float = 30.0) -> LoopbackProcess:
        """Kill, then serve again on the same port. The data died with the old process: it starts empty."""
        self.kill()
        return self.start(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_pipe()

    def __enter__(self) -> LoopbackProcess:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- control API ------------------------------------------------------------------------------
    def _call(self, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = Request(self.url + path, data=data, method="GET" if body is None else "POST")
        with urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def state(self, with_files: bool = False) -> dict[str, Any]:
        """The raw JSON snapshot (``/_loopback/state``); file contents base64 with ``with_files``."""
        state: dict[str, Any] = self._call("/_loopback/state?files=1" if with_files else "/_loopback/state")
        return state

    def runs(self, project: str | None = None) -> list[RunRecord]:
        """Every stored run, file contents included, as ``RunRecord`` objects."""
        runs = [RunRecord.from_snapshot(r) for r in self.state(with_files=True)["runs"]]
        return [r for r in runs if project is None or r.project == project]

    def run(self, run_id: str, project: str | None = None) -> RunRecord:
        """The stored run with id ``run_id``; KeyError naming the runs that exist when it is missing."""
        runs = self.runs(project)
        for run in runs:
            if run.id == run_id:
                return run
        raise KeyError(f"no run {run_id!r} on the loopback server process; runs: {[r.path for r in runs]}")

    def sweeps(self) -> list[SweepRecord]:
        return [SweepRecord.from_snapshot(s) for s in self.state()["sweeps"]]

    def sweep(self, name: str) -> SweepRecord:
        sweeps = self.sweeps()
        for sweep in sweeps:
            if sweep.name == name:
                return sweep
        raise KeyError(f"no sweep {name!r} on the loopback server process; sweeps: {[s.path for s in sweeps]}")

    def agents(self, sweep: str | None = None) -> list[AgentRecord]:
        return [a for s in self.sweeps() if sweep in (None, s.name) for a in s.agents.values()]

    @property
    def unknown_operations(self) -> list[str]:
        return list(self.state()["unknown_operations"])

    def fail(self, status: int = 500, match: str | None = None, times: int | None = None) -> None:
        """As ``LoopbackServer.fail``: HTTP ``status`` (0 drops the connection) for matching requests."""
        check_fault(status, times)
        self._call("/_loopback/fail", {"status": status, "match": match, "times": times})

    def slow(self, seconds: float, match: str | None = None) -> None:
        """As ``LoopbackServer.slow``: ``seconds`` of latency for matching requests."""
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {seconds!r}")
        self._call("/_loopback/slow", {"seconds": seconds, "match": match})

    def cut_history(self, after: int) -> None:
        """As ``LoopbackServer.cut_history``: lose uploads that take a run's history past ``after`` rows."""
        if not isinstance(after, int) or isinstance(after, bool) or after < 0:
            raise ValueError(f"after must be an int >= 0 (history rows kept), got {after!r}")
        self._call("/_loopback/cut-history", {"after": after})

    def heal(self) -> None:
        """Clear every fault, added latency and history cut."""
        self._call("/_loopback/heal", {})
