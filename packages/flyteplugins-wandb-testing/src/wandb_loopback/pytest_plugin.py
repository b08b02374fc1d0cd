"""Pytest fixtures, loaded through the ``pytest11`` entry point wherever the package is installed.

- ``wandb_server``: a fresh ``LoopbackServer`` thread per test on a free 127.0.0.1 port.
- ``wandb_server_process``: the server as its own process (``kill()`` is a real SIGKILL).

Both set ``WANDB_BASE_URL`` and a dummy 40+ character ``WANDB_API_KEY`` through ``monkeypatch`` (so
``wandb.init`` goes online to the fake server), point ``WANDB_DIR`` at the test's ``tmp_path`` (the
runs' local files never land in the project's ``./wandb``), shorten the sweep agent's heartbeat to
0.2 s, and stop wandb's service before the server goes away. Under pytest-socket
(``--disable-socket``) a test that uses them, or is marked ``@pytest.mark.wandb_loopback``, may
connect to the loopback addresses only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .process import LoopbackProcess
from .server import LoopbackServer
from .teardown import teardown_wandb

AGENT_HEARTBEAT_SECONDS = 0.2
SERVER_FIXTURES = ("wandb_server", "wandb_server_process")
LOOPBACK_ADDRESSES = ["127.0.0.1", "::1"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "wandb_loopback: the test talks to a loopback W&B server it starts itself; under pytest-socket "
        "(--disable-socket) it may connect to 127.0.0.1 / ::1 (tests using the fixtures get this alone)",
    )


def _sockets_blocked(config: pytest.Config) -> bool:
    return config.pluginmanager.has_plugin("socket") and bool(config.getoption("disable_socket", False))


def _needs_loopback(item: pytest.Item) -> bool:
    if item.get_closest_marker("wandb_loopback") is not None:
        return True
    return any(name in getattr(item, "fixturenames", ()) for name in SERVER_FIXTURES)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A suite that blocks sockets still lets the fake server's tests reach loopback, and only that.
    # Without --disable-socket nothing is added: pytest-socket's allow_hosts would otherwise turn a
    # permissive run into a restrictive one.
    if not _sockets_blocked(config):
        return
    for item in items:
        if _needs_loopback(item) and item.get_closest_marker("allow_hosts") is None:
            item.add_marker(pytest.mark.allow_hosts(LOOPBACK_ADDRESSES))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    config = item.config
    unix_allowed = bool(config.getoption("allow_unix_socket", False))
    if _sockets_blocked(config) and not unix_allowed and _needs_loopback(item):
        pytest.fail(
            "wandb_loopback: this test needs --allow-unix-socket next to --disable-socket: the wandb SDK "
            "talks to its own service process over a unix socket",
            pytrace=False,
        )


def _point_wandb_at(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    # A wandb service left by an earlier test keeps the settings it started with (offline, another
    # server): stop it so the SDK reads the environment set here.
    teardown_wandb()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("WANDB_MODE", raising=False)  # "offline"/"disabled" would bypass the server
    # The SDK's comment allows tests to shorten the agent's 5 s heartbeat; trials then take ~0.5 s.
    from wandb.agents import pyagent

    monkeypatch.setattr(pyagent.Agent, "HEARTBEAT_SLEEP_SECONDS", AGENT_HEARTBEAT_SECONDS, raising=False)


@pytest.fixture
def wandb_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[LoopbackServer]:
    """A fresh loopback W&B server in this process; the environment points the wandb SDK at it.

    What it stored: ``runs()``, ``run(id)``, ``sweeps()``, ``sweep(id)``, ``agents()`` (plain
    ``RunRecord`` / ``SweepRecord`` / ``AgentRecord`` objects). Failure switches: ``fail(status,
    match, times)`` (5xx, or 0 to drop connections), ``slow(seconds, match)``, ``heal()``,
    ``kill()`` (connections refused), ``restart()`` (same port, same data).
    """
    server = LoopbackServer().start()
    _point_wandb_at(monkeypatch, {**server.env(), "WANDB_DIR": str(tmp_path)})
    try:
        yield server
    finally:
        # Flush and stop wandb's service while the server still answers, or teardown would wait on
        # a dead server for unfinished uploads.
        teardown_wandb()
        server.stop()


@pytest.fixture
def wandb_server_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[LoopbackProcess]:
    """The loopback server as a separate process: ``kill()`` is a SIGKILL, ``restart()`` comes back
    empty on the same port; ``runs()`` / ``run(id)`` / ``sweeps()`` read its state over HTTP."""
    server = LoopbackProcess().start()
    _point_wandb_at(monkeypatch, {**server.env(), "WANDB_DIR": str(tmp_path)})
    try:
        yield server
    finally:
        teardown_wandb()
        server.stop()
