"""The ML-frameworks layer: Lightning, Hugging Face Trainer and accelerate inside tracked tasks.

Runs in its own nox session (`integration-frameworks`), which installs CPU torch and the
frameworks; the models are tiny and built in code (no downloads).
"""

from __future__ import annotations

import pytest

pytest.importorskip("torch", reason="the frameworks session installs CPU torch (nox -s integration-frameworks)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The frameworks warn about their own setup (CPU only, tiny dataloaders, "a wandb run is already
    # in progress", deprecations of their own): not ours to fail on. Our code's warnings still fail
    # the unit and core integration layers.
    for item in items:
        if "frameworks" in str(item.path):
            for category in ("UserWarning", "DeprecationWarning", "FutureWarning", "RuntimeWarning"):
                item.add_marker(pytest.mark.filterwarnings(f"ignore::{category}"))
