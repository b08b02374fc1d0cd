"""The torch nox session without a local CPU wheel: it installs from PyTorch's CPU index or, where
that index cannot be reached, skips with one line saying why (never a resolver error, never CUDA torch)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_without_pip_find_links_and_no_route_to_the_cpu_index_the_session_skips_saying_why(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PIP_FIND_LINKS"}
    # A proxy nobody listens on: download.pytorch.org is unreachable, as on a machine without internet.
    env.update(https_proxy="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9", NO_PROXY="", no_proxy="")
    nox = [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "--envdir", str(tmp_path / "nox")]
    proc = subprocess.run(
        [*nox, "-s", "integration-distributed"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    (line,) = [ln for ln in out.splitlines() if "Session integration-distributed skipped" in ln]
    assert "PIP_FIND_LINKS is not set" in line and "https://download.pytorch.org/whl/cpu" in line, line
    assert "unreachable" in line, line
