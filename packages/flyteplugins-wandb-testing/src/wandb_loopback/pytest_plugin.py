"""Pytest fixtures, loaded through the ``pytest11`` entry point wherever the package is installed.

- ``wandb_server``: a fresh ``LoopbackServer`` thread per test on a free 127.0.0.1 port.
- ``wandb_server_process``: the server as its own process (``kill()`` is a real SIGKILL).

Both set ``WANDB_BASE_URL`` and a dummy 40+ character ``WANDB_API_KEY`` through ``monkeypatch`` (so
``wandb.init`` goes online to the fake server), shorten the sweep agent's heartbeat to 0.2 s, and stop
wandb's service before the server goes away. Under pytest-socket (``--disable-socket``) a test that
uses them may connect to the loopback addresses only.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .process import LoopbackProcess
from .server import LoopbackServer
from .teardown import teardown_wandb

AGENT_HEARTBEAT_SECONDS = 0.2
SERVER_FIXTURES = ("wandb_server", "wandb_server_process")
LOOPBACK_ADDRESSES = ["127.0.0.1", "::1"]


def pytest_configure(config: pytest.Config) -> None:
    # pytest-socket's marker, registered here too so --strict-markers accepts it without that plugin.
    config.addinivalue_line("markers", "allow_hosts(hosts): restrict socket connections to these hosts")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A test that asks for the fake server needs loopback sockets even where the suite blocks them.
    if not config.pluginmanager.has_plugin("socket"):
        return
    for item in items:
        if any(name in getattr(item, "fixturenames", ()) for name in SERVER_FIXTURES):
            item.add_marker(pytest.mark.allow_hosts(LOOPBACK_ADDRESSES))


def _point_wandb_at(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("WANDB_MODE", raising=False)  # "offline"/"disabled" would bypass the server
    # The SDK's comment allows tests to shorten the agent's 5 s heartbeat; trials then take ~0.5 s.
    from wandb.agents import pyagent

    monkeypatch.setattr(pyagent.Agent, "HEARTBEAT_SLEEP_SECONDS", AGENT_HEARTBEAT_SECONDS, raising=False)


@pytest.fixture
def wandb_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackServer]:
    """A fresh loopback W&B server in this process; the environment points the wandb SDK at it.

    What it stored: ``runs()``, ``run(id)``, ``sweeps()``, ``sweep(id)``, ``agents()`` (plain
    ``RunRecord`` / ``SweepRecord`` / ``AgentRecord`` objects). Failure switches: ``fail(status,
    match, times)`` (5xx, or 0 to drop connections), ``slow(seconds, match)``, ``heal()``,
    ``kill()`` (connections refused), ``restart()`` (same port, same data).
    """
    server = LoopbackServer().start()
    _point_wandb_at(monkeypatch, server.env())
    try:
        yield server
    finally:
        # Flush and stop wandb's service while the server still answers, or teardown would wait on
        # a dead server for unfinished uploads.
        teardown_wandb()
        server.stop()


@pytest.fixture
def wandb_server_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackProcess]:
    """The loopback server as a separate process: ``kill()`` is a SIGKILL, ``restart()`` comes back
    empty on the same port; ``runs()`` / ``run(id)`` / ``sweeps()`` read its state over HTTP."""
    server = LoopbackProcess().start()
    _point_wandb_at(monkeypatch, server.env())
    try:
        yield server
    finally:
        teardown_wandb()
        server.stop()
