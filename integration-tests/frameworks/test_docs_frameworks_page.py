"""docs/frameworks.md's framework examples, run as written (the docs session skips them: no torch)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from docs.test_docs_examples import Example, collect

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

FRAMEWORK_EXAMPLES = [e for e in collect() if e.skip and e.skip.startswith("frameworks")]


def test_the_frameworks_page_has_its_examples() -> None:
    assert {e.page for e in FRAMEWORK_EXAMPLES} == {"frameworks.md"} and len(FRAMEWORK_EXAMPLES) >= 3


@pytest.mark.parametrize("example", FRAMEWORK_EXAMPLES, ids=[e.id for e in FRAMEWORK_EXAMPLES])
def test_frameworks_example(example: Example, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(example.code)
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env={**os.environ, "WANDB_SILENT": "true", "WANDB_MODE": "offline"},
        capture_output=True,
        text=True,
        timeout=480,
    )
    assert proc.returncode == 0, f"{example.id} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    # Exactly one run, written by the task: the framework opened none of its own.
    assert len(list((tmp_path / "wandb").glob("offline-run-*"))) == 1
