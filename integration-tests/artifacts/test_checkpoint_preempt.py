"""Preemption: a training task stopped by SIGTERM resumes from its checkpoint into the same W&B run.

Real subprocesses run ``checkpoint_job.py`` against the loopback W&B server: the first is sent SIGTERM
after a few checkpoints, the second (the retry: same Flyte run name, so the same run id) restores the
latest checkpoint and trains to the end. The server must hold one run whose history has every step
exactly once.
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

JOB = Path(__file__).with_name("checkpoint_job.py")
TOTAL = 40
HANG_GUARD = 180  # only guards against a hung child; nothing asserts on durations


def _start(progress: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(JOB), str(progress), str(TOTAL)],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _saved(progress: Path) -> list[int]:
    return [int(x) for x in progress.read_text().split()] if progress.exists() else []


def test_sigterm_then_retry_resumes_from_the_checkpoint(isolated_wandb: Path, wandb_server: Any) -> None:
    progress = isolated_wandb / "progress"
    first = _start(progress)
    deadline = time.monotonic() + HANG_GUARD
    while len(_saved(progress)) < 5:
        if first.poll() is not None or time.monotonic() > deadline:
            first.kill()
            pytest.fail(f"job ended early or hung:\n{first.stderr.read()[-3000:]}")
        time.sleep(0.02)
    first.send_signal(signal.SIGTERM)
    out1, _ = first.communicate(timeout=HANG_GUARD)
    assert first.returncode != 0, "the job was meant to be stopped mid-run"
    assert "restored=-1 start=0" in out1
    saved_before = _saved(progress)
    assert max(saved_before) < TOTAL - 1, "the first attempt finished before SIGTERM"

    retry = _start(progress)
    out2, err2 = retry.communicate(timeout=HANG_GUARD)
    assert retry.returncode == 0, err2[-3000:]
    restored, start = map(int, re.search(r"restored=(-?\d+) start=(\d+)", out2).groups())
    # The checkpoints the first attempt saved before the signal all reached the server (the SIGTERM
    # handler finished the run), so the retry restores the last of them (or one more, when the
    # signal came between a save and its progress line).
    assert restored in (max(saved_before), max(saved_before) + 1) and start == restored + 1

    [run] = wandb_server.runs(project="preempt-ckpt")  # one W&B run across both attempts
    steps = [row["_step"] for row in run.history]
    assert steps == list(range(TOTAL)), f"steps lost or logged twice: {steps}"
    assert run.state == "finished"
    latest = [r for r in wandb_server.artifact_lineage() if "latest" in r["aliases"]]
    assert [r["metadata"]["step"] for r in latest] == [TOTAL - 1]
