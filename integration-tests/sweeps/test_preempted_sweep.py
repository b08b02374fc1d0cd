"""A sweep task stopped by a SIGTERM (a preempted pod) and run again: the trials it cut short run again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import preempted_sweep as ps

from flyteplugins.wandb.testing import read_offline_runs


def test_trials_cut_short_by_a_sigterm_run_again_when_the_sweep_task_does(isolated_wandb: Path):
    env = {**os.environ, "WANDB_MODE": "offline", ps.SLOW_FROM: "2"}
    first = subprocess.Popen([sys.executable, ps.__file__], cwd=isolated_wandb, env=env)
    try:
        deadline = time.monotonic() + 120
        while not all((isolated_wandb / f"started-{x}").exists() for x in (2, 3)):
            assert first.poll() is None and time.monotonic() < deadline, "the slow trials never started"
            time.sleep(0.2)
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=60)
    finally:
        first.kill()
    cut = [r for r in read_offline_runs(isolated_wandb / "wandb") if r.exit_code == 143]
    assert sorted(r.config["x"] for r in cut) == [2, 3]  # preempted, their row kept
    assert all(len(r.metric("loss")) == 1 for r in cut)

    ps.launch()  # the retried sweep task, in this process: no trial waits now
    result = ps.RESULT["result"]
    by_x = {t.params["x"]: t for t in result.trials}
    assert [by_x[x].resumed for x in range(4)] == [True, True, False, False]
    assert [by_x[x].state for x in range(4)] == ["finished"] * 4
    assert len(result.trials) == 4 and result.best.params == {"x": 0}
