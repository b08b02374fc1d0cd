"""Pytest fixtures: ``wandb_server`` (a loopback W&B server thread) and ``wandb_server_process``.

Import them in a conftest (``from wandb_loopback.pytest_plugin import wandb_server``). Each test gets
its own server on a free 127.0.0.1 port, with ``WANDB_BASE_URL`` and a dummy 40+ character
``WANDB_API_KEY`` set through ``monkeypatch``; the sweep agent's heartbeat is shortened to 0.2 s.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import LoopbackProcess, LoopbackServer

AGENT_HEARTBEAT_SECONDS = 0.2


def _teardown_wandb() -> None:
    # Flush and stop wandb's service while the server still answers, or teardown would wait on a
    # dead server for unfinished uploads.
    from wandb_teardown import teardown_wandb

    teardown_wandb()


@pytest.fixture
def wandb_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackServer]:
    """A fresh loopback W&B server; the environment points the wandb SDK at it.

    The handle exposes stored state (``runs()``, ``run(id)``, ``sweeps()``, ``sweep(id)``,
    ``store``) and failure switches (``fail(status, match, times)``, ``heal()``, ``kill()``,
    ``restart()``, ``slow(seconds, match)``).
    """
    server = LoopbackServer().start()
    for key, value in server.env().items():
        monkeypatch.setenv(key, value)
    # The SDK's comment allows tests to shorten the agent's 5 s heartbeat; trials then take ~0.5 s.
    from wandb.agents import pyagent

    monkeypatch.setattr(pyagent.Agent, "HEARTBEAT_SLEEP_SECONDS", AGENT_HEARTBEAT_SECONDS, raising=False)
    try:
        yield server
    finally:
        _teardown_wandb()
        server.stop()


@pytest.fixture
def wandb_server_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackProcess]:
    """The loopback server as a separate process (``kill()`` sends SIGKILL); state via HTTP."""
    server = LoopbackProcess().start()
    for key, value in server.env().items():
        monkeypatch.setenv(key, value)
    try:
        yield server
    finally:
        _teardown_wandb()
        server.stop()
