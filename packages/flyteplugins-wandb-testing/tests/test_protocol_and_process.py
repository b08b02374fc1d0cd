"""The protocol-gap errors, the fault-switch arguments, the subprocess handle and the pytest plugin."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import wandb
from wandb_loopback import NEWEST_WANDB, OLDEST_WANDB, SUPPORTED_WANDB, LoopbackProcess, LoopbackServer
from wandb_loopback.protocol import client_version, is_supported

pytestmark = pytest.mark.wandb_loopback


def _post(url: str, body: dict[str, Any], agent: str) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST", headers={"User-Agent": agent})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


# -- protocol gaps -----------------------------------------------------------------------------------


def test_supported_range_is_the_one_the_readme_names() -> None:
    assert (OLDEST_WANDB, NEWEST_WANDB) == ("0.28.2", "0.31.0")
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert f"{OLDEST_WANDB} to {NEWEST_WANDB}" in readme
    assert is_supported("0.28.2") and is_supported("0.31.0") and is_supported(wandb.__version__)
    assert not is_supported("0.28.1") and not is_supported("0.32.0")
    assert client_version("W&B Public Client 0.31.0") == "0.31.0"
    assert client_version("wandb-core") is None


def test_unknown_graphql_field_is_an_error_naming_the_operation_and_versions(caplog: pytest.LogCaptureFixture) -> None:
    query = "query FutureThing { futureField { id } viewer { id } }"
    with caplog.at_level(logging.WARNING, logger="wandb_loopback"), LoopbackServer() as server:
        status, body = _post(server.url + "/graphql", {"query": query}, "W&B Public Client 0.99.0")
    assert status == 200 and body["data"] is None
    (error,) = body["errors"]
    for part in ("query FutureThing", "futureField", "wandb 0.99.0", SUPPORTED_WANDB):
        assert part in error["message"], (part, error["message"])
    assert "viewer" not in error["message"]  # only the fields the server lacks are named
    logged = [r.getMessage() for r in caplog.records if r.name == "wandb_loopback"]
    assert any("FutureThing" in m and SUPPORTED_WANDB in m for m in logged), logged
    assert any(m.startswith("wandb 0.99.0 is talking to wandb_loopback") for m in logged), logged
    assert server.unknown_operations == ["query FutureThing: ['futureField']"]


def test_a_client_older_than_the_range_is_told_once_when_it_connects(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="wandb_loopback"), LoopbackServer() as server:
        for _ in range(2):
            viewer = {"query": "query Viewer { viewer { id } }"}
            status, _body = _post(server.url + "/graphql", viewer, "W&B Public Client 0.27.1")
            assert status == 200
    logged = [r.getMessage() for r in caplog.records if r.name == "wandb_loopback"]
    told = [m for m in logged if m.startswith("wandb 0.27.1 is talking to wandb_loopback")]
    assert len(told) == 1 and SUPPORTED_WANDB in told[0] and "(this client is older)" in told[0], logged


def test_unknown_route_is_an_error_naming_the_gap_and_the_last_seen_client() -> None:
    with LoopbackServer() as server:
        _post(server.url + "/graphql", {"query": "query Viewer { viewer { id } }"}, "W&B Public Client 0.31.0")
        status, body = _post(server.url + "/api/v9/new_endpoint", {}, "wandb-core")
    assert status == 404
    assert "POST /api/v9/new_endpoint" in body["error"] and "sent by wandb 0.31.0" in body["error"]
    assert SUPPORTED_WANDB in body["error"]
    assert server.unknown_operations == ["POST /api/v9/new_endpoint"]


# -- fault switches ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.fail(42), "status must be 0"),
        (lambda s: s.fail("503"), "status must be 0"),
        (lambda s: s.fail(503, times=0), "times must be None"),
        (lambda s: s.slow(-1.0), "seconds must be >= 0"),
        (lambda s: s.cut_history(-1), "after must be an int >= 0"),
    ],
)
def test_fault_switches_reject_arguments_that_would_do_nothing(call: Any, message: str) -> None:
    server = LoopbackServer()  # not started: the check comes before anything is sent
    with pytest.raises(ValueError, match=message):
        call(server)
    assert server.faults == [] and server.latency == []


def test_dropped_connection_and_latency_switches(wandb_server: LoopbackServer) -> None:
    viewer = {"query": "query Viewer { viewer { id } }"}
    wandb_server.fail(0, match="Viewer", times=1)
    with pytest.raises((ConnectionError, urllib.error.URLError, OSError)):
        _post(wandb_server.url + "/graphql", viewer, "test")
    wandb_server.slow(0.01, match="Viewer")
    assert wandb_server.latency_for("Viewer") == 0.01 and wandb_server.latency_for("UpsertBucket") == 0
    assert _post(wandb_server.url + "/graphql", viewer, "test")[0] == 200
    wandb_server.heal()
    assert wandb_server.faults == [] and wandb_server.latency == []


def test_cut_history_keeps_the_rows_up_to_the_cut_and_drops_the_connection(wandb_server: LoopbackServer) -> None:
    url = wandb_server.url + "/files/e/p/cut1/file_stream"

    def rows(offset: int, n: int) -> dict[str, Any]:  # the last rows, with the run's end
        lines = [json.dumps({"_step": offset + i}) for i in range(n)]
        history = {"wandb-history.jsonl": {"offset": offset, "content": lines}}
        return {"files": history, "complete": offset + n == 5, "exitcode": 0}

    wandb_server.cut_history(2)
    assert _post(url, rows(0, 1), "wandb-core")[0] == 200  # below the cut: answered
    for offset, n in ((1, 4), (2, 3)):  # the upload crossing the cut, then its retry
        with pytest.raises((ConnectionError, urllib.error.URLError, OSError)):
            _post(url, rows(offset, n), "wandb-core")
    run = wandb_server.run("cut1", project="p")
    assert [json.loads(line)["_step"] for line in run.history_lines] == [0, 1] and run.state != "finished"
    wandb_server.heal()
    assert _post(url, rows(2, 3), "wandb-core")[0] == 200
    assert len(run.history_lines) == 5 and run.state == "finished"


# -- the server in its own process -------------------------------------------------------------------


def test_process_handle_returns_records_and_switches_faults(wandb_server_process: LoopbackProcess) -> None:
    fault_free = wandb.init(project="p", entity="e", id="proc1", config={"lr": 0.1})
    for i in range(3):
        fault_free.log({"loss": 1.0 / (i + 1)})
    (Path(fault_free.dir) / "model.txt").write_text("weights")
    fault_free.save(str(Path(fault_free.dir) / "model.txt"), base_path=fault_free.dir)
    fault_free.finish()

    stored = wandb_server_process.run("proc1")
    assert stored.path == "e/p/proc1" and stored.config == {"lr": 0.1}
    assert stored.metric("loss") == [1.0, 0.5, pytest.approx(1 / 3)]
    assert stored.summary["loss"] == pytest.approx(1 / 3)
    assert stored.files["model.txt"] == b"weights" and stored.exit_code == 0 and stored.finished
    with pytest.raises(KeyError, match="e/p/proc1"):
        wandb_server_process.run("missing")

    wandb_server_process.fail(503, match="Viewer", times=1)
    status, _ = _post(wandb_server_process.url + "/graphql", {"query": "query Viewer { viewer { id } }"}, "t")
    assert status == 503
    wandb_server_process.heal()

    port = wandb_server_process.port
    wandb_server_process.kill()
    with pytest.raises(OSError):
        urllib.request.urlopen(wandb_server_process.url + "/", timeout=5)
    wandb_server_process.restart()
    assert wandb_server_process.port == port and wandb_server_process.runs() == []


# -- the pytest plugin -------------------------------------------------------------------------------


def test_fixtures_are_registered_through_the_pytest11_entry_point() -> None:
    points = importlib.metadata.entry_points(group="pytest11")
    assert [p.value for p in points if p.name == "wandb_loopback"] == ["wandb_loopback.pytest_plugin"]


USER_TEST = """
import os, socket, urllib.request
import pytest
from pytest_socket import SocketBlockedError, SocketConnectBlockedError

def test_online(wandb_server):
    assert os.environ["WANDB_BASE_URL"] == wandb_server.url
    with urllib.request.urlopen(wandb_server.url + "/", timeout=5) as resp:
        assert resp.status == 200

def test_other_hosts_stay_blocked(wandb_server):
    with pytest.raises(SocketConnectBlockedError):
        socket.create_connection(("192.0.2.1", 80), timeout=1)

def test_without_the_fixture_sockets_stay_blocked():
    with pytest.raises(SocketBlockedError):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)
"""


def test_a_user_test_gets_loopback_sockets_under_pytest_socket(tmp_path: Path) -> None:
    """A user's suite that blocks sockets (``--disable-socket``) can still use the fixtures."""
    pytest.importorskip("pytest_socket", reason="pytest-socket is what blocks sockets in CI")
    (tmp_path / "test_user.py").write_text(USER_TEST)
    args = ["--disable-socket", "--allow-unix-socket", "-p", "no:cacheprovider", "-q", "test_user.py"]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *args], cwd=tmp_path, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0 and "3 passed" in done.stdout, done.stdout + done.stderr

    # wandb reaches its service over a unix socket: blocking those fails early, saying so.
    args.remove("--allow-unix-socket")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *args], cwd=tmp_path, capture_output=True, text=True, timeout=240
    )
    assert "2 errors" in done.stdout and "1 passed" in done.stdout, done.stdout + done.stderr
    assert "needs --allow-unix-socket next to --disable-socket" in done.stdout


def test_replies_are_not_held_back_by_nagle_and_documents_parse_once(wandb_server: LoopbackServer) -> None:
    """Each reply goes out in two writes on a keep-alive connection: without TCP_NODELAY the second
    waited for the client's delayed ACK (~40 ms a request). The same document is parsed once."""
    import http.client
    import socket
    from urllib.parse import urlparse

    from wandb_loopback.projector import _parse

    url = urlparse(wandb_server.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    body = json.dumps({"query": "query Viewer { viewer { id } }"})
    headers = {"Content-Type": "application/json", "Authorization": "Basic dGVzdA=="}
    try:
        before = _parse.cache_info()
        for _ in range(2):
            conn.request("POST", "/graphql", body, headers)
            conn.getresponse().read()
        after = _parse.cache_info()
        httpd = wandb_server._httpd
        assert httpd is not None
        with httpd.conns_lock:
            served = list(httpd.open_conns)
        assert served and all(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in served)
    finally:
        conn.close()
    assert after.hits - before.hits >= 1 and after.misses - before.misses <= 1
