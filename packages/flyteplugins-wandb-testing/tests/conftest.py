"""Each test runs in its own directory with no W&B settings from the machine (no key, no netrc)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from wandb_loopback.teardown import teardown_wandb


@pytest.fixture(autouse=True)
def isolated_wandb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_BASE_URL", "WANDB_PROJECT", "WANDB_ENTITY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / ".config" / "wandb"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / ".cache" / "wandb"))
    monkeypatch.setenv("WANDB_DISABLE_GIT", "true")
    monkeypatch.setenv("WANDB_CONSOLE", "off")
    monkeypatch.setenv("WANDB_SILENT", "true")
    yield tmp_path
    # wandb caches its settings in a process-wide singleton: stop it so the next test starts afresh.
    teardown_wandb()
