"""Shared fixtures for integration tests: every test runs in its own directory with a clean W&B env."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from wandb_loopback.teardown import teardown_wandb

# The fake W&B server's fixtures (`wandb_server`, `wandb_server_process`) come from the
# flyteplugins-wandb-testing package, which pytest loads through its `pytest11` entry point.

_WANDB_ENV = (
    "WANDB_API_KEY",
    "WANDB_MODE",
    "WANDB_BASE_URL",
    "WANDB_PROJECT",
    "WANDB_ENTITY",
    "WANDB_DIR",
    "WANDB_RUN_ID",
    "WANDB_SWEEP_ID",
    "WANDB_RESUME",
    "WANDB_RUN_GROUP",
    "WANDB_SILENT",
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
    "GROUP_RANK",
)


@pytest.fixture(autouse=True)
def isolated_wandb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run in a fresh directory: offline runs land in ``tmp_path / "wandb"``; no key, no netrc."""
    for name in _WANDB_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc credentials leak in
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / ".config" / "wandb"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / ".cache" / "wandb"))
    monkeypatch.setenv("WANDB_DISABLE_GIT", "true")
    monkeypatch.setenv("WANDB_CONSOLE", "off")
    yield tmp_path
    # wandb caches its settings (WANDB_DIR, base URL, ...) in a process-wide singleton: tear it
    # down so the next test's environment is read afresh.
    teardown_wandb()


@pytest.fixture(scope="session", autouse=True)
def _flyte_init() -> None:
    import flyte

    flyte.init()


@pytest.fixture
def wandb_dir(isolated_wandb: Path) -> Path:
    return isolated_wandb / "wandb"


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("WANDB_SILENT", "true")


_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Everything under integration-tests/ is an integration test, whether or not its file says so:
    # `-m "not integration"` then selects exactly the unit tests under packages/.
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.integration)
