"""Rewind on resume: after SIGTERM past the last checkpoint, the retry rewinds the run to it.

The first attempt checkpoints at 0, 5, 10, logs steps 11..13 and is stopped by SIGTERM. The retry
(same Flyte run name, so the same W&B run) restores step 10; the run is opened with
``resume_from="<id>?_step=10"``, so the server's history holds steps 0..39 exactly once, 11..13 with
the retry's values (without the rewind, W&B keeps the dead attempt's 11..13 and drops the retry's).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

JOB = Path(__file__).with_name("rewind_job.py")
TOTAL = 40
HANG_GUARD = 180  # only guards against a hung child; nothing asserts on durations


def _start(progress: Path, attempt: int, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, str(JOB), str(progress), str(TOTAL), str(attempt), *extra]
    return subprocess.Popen(cmd, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _logged(progress: Path) -> list[int]:
    return [int(x) for x in progress.read_text().split()] if progress.exists() else []


def test_sigterm_after_the_checkpoint_then_retry_logs_each_step_once(isolated_wandb: Path, wandb_server: Any) -> None:
    progress = isolated_wandb / "progress"
    first = _start(progress, 1, "13")
    deadline = time.monotonic() + HANG_GUARD
    while 13 not in _logged(progress):
        if first.poll() is not None or time.monotonic() > deadline:
            first.kill()
            pytest.fail(f"job ended early or hung:\n{first.stderr.read()[-3000:]}")
        time.sleep(0.05)
    first.send_signal(signal.SIGTERM)
    first.communicate(timeout=HANG_GUARD)
    assert first.returncode != 0, "the job was meant to be stopped mid-run"

    retry = _start(progress, 2)
    out2, err2 = retry.communicate(timeout=HANG_GUARD)
    assert retry.returncode == 0, err2[-3000:]
    assert re.search(r"restored=10 start=11", out2), out2

    [run] = wandb_server.runs(project="rewind-ckpt")
    steps = [row["_step"] for row in run.history]
    assert steps == list(range(TOTAL)), f"steps lost or logged twice: {steps}"
    attempts = {row["_step"]: row["attempt"] for row in run.history}
    assert [attempts[s] for s in range(11)] == [1] * 11
    assert [attempts[s] for s in range(11, TOTAL)] == [2] * (TOTAL - 11)  # 11..13 from the retry
    assert run.rewinds == [10]
    assert run.state == "finished"
