"""The README's examples run as written: the pytest example under pytest, the script as a script."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.wandb_loopback

README = Path(__file__).parents[1] / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(), re.DOTALL | re.MULTILINE)


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=240)


def test_the_readme_has_a_pytest_example_and_a_script() -> None:
    assert len(BLOCKS) == 2
    assert "def test_" in BLOCKS[0] and "LoopbackServer()" in BLOCKS[1]


def test_the_pytest_example_passes(tmp_path: Path) -> None:
    (tmp_path / "test_example.py").write_text(BLOCKS[0])
    done = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_example.py"], tmp_path)
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout + done.stderr


def test_the_script_example_runs(tmp_path: Path) -> None:
    (tmp_path / "example.py").write_text(BLOCKS[1])
    done = _run([sys.executable, "example.py"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
