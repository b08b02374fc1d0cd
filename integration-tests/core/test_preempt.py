"""Preemption: SIGTERM mid-run loses no logged step, records the run's state, and a retry continues it.

Real subprocesses run ``preempt_job.py`` (a tracked Flyte local-mode task logging steps); the test
sends SIGTERM once some steps are logged, then reads the run back: the offline run file, or what the
loopback W&B server stored. A second process with the same Flyte run name is the retry.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from flyteplugins.wandb.testing import runs_by_id
from flyteplugins.wandb_core._preempt import PREEMPTED_EXIT_CODE

pytestmark = pytest.mark.integration

JOB = Path(__file__).with_name("preempt_job.py")
STEPS_BEFORE_SIGNAL = 40
# Only guards against a hung child; the test asserts on outcomes, never on durations.
HANG_GUARD = 120


def _start(kind: str, progress: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(JOB), kind, str(progress), *extra],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _logged(progress: Path) -> list[int]:
    return [int(x) for x in progress.read_text().split()] if progress.exists() else []


def _terminate_mid_run(proc: subprocess.Popen, progress: Path) -> tuple[list[int], str]:
    """Wait until the task has logged some steps, send SIGTERM, wait for the process to end."""
    deadline = time.monotonic() + HANG_GUARD
    while len(_logged(progress)) < STEPS_BEFORE_SIGNAL:
        if proc.poll() is not None:
            pytest.fail(f"job ended early ({proc.returncode}):\n{proc.stderr.read()[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("job logged nothing")
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=HANG_GUARD)
    return _logged(progress), err


def _notices(stderr: str, word: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("wandb:") and word in line]


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_sigterm_offline_keeps_every_logged_step_and_a_retry_continues(
    kind: str, isolated_wandb: Path, wandb_dir: Path
) -> None:
    env = {"WANDB_MODE": "offline"}
    logged, err = _terminate_mid_run(_start(kind, isolated_wandb / "p1", env=env), isolated_wandb / "p1")

    # The process still ends the way SIGTERM ends it (the default handler was chained to).
    [(run_id, [first])] = runs_by_id(wandb_dir).items()
    assert set(logged) <= set(first.metric("i")), f"lost steps: {sorted(set(logged) - set(first.metric('i')))}"
    assert first.exit_code == PREEMPTED_EXIT_CODE
    assert len(_notices(err, "SIGTERM")) == 1, err[-2000:]
    # One line of the plugin's with the command that uploads the run (wandb prints its own too).
    assert len(_notices(err, "upload it with: wandb sync")) == 1, err[-2000:]

    # The retry: same Flyte run name, so the same run id, continued from the next step.
    retry = _start(kind, isolated_wandb / "p2", str(max(logged) + 1), "5", env=env)
    _, err2 = retry.communicate(timeout=HANG_GUARD)
    assert retry.returncode == 0, err2[-3000:]
    parts = runs_by_id(wandb_dir)[run_id]
    assert len(parts) == 2 and parts[1].exit_code == 0
    # The second part says what happened: it resumed the run (the first part did not).
    assert parts[1].resumed and not parts[0].resumed
    assert parts[1].metric("i") == list(range(max(logged) + 1, max(logged) + 6))


def test_sigterm_online_server_stores_every_step_and_the_state(isolated_wandb: Path, wandb_server: Any) -> None:
    logged, err = _terminate_mid_run(_start("async", isolated_wandb / "p1"), isolated_wandb / "p1")
    [stored] = wandb_server.runs()
    assert set(logged) <= set(stored.metric("i")), f"lost: {sorted(set(logged) - set(stored.metric('i')))}"
    assert stored.preempting, "mark_preempting never reached the server"
    assert stored.exit_code == PREEMPTED_EXIT_CODE and stored.state == "failed"
    assert len(_notices(err, "SIGTERM")) == 1, err[-2000:]

    retry = _start("async", isolated_wandb / "p2", str(max(logged) + 1), "5")
    _, err2 = retry.communicate(timeout=HANG_GUARD)
    assert retry.returncode == 0, err2[-3000:]
    [resumed] = wandb_server.runs()
    assert resumed.id == stored.id
    steps = resumed.metric("i")
    assert steps[-5:] == list(range(max(logged) + 1, max(logged) + 6))
    assert set(logged) <= set(steps)
    assert resumed.state == "finished" and resumed.exit_code == 0
    assert not resumed.preempting  # the resumed run finished cleanly: no longer preempting
    assert resumed.sessions == 2


def test_sigterm_chains_to_the_applications_own_handler(isolated_wandb: Path, wandb_dir: Path) -> None:
    proc = _start("async", isolated_wandb / "p1", "--own-handler", env={"WANDB_MODE": "offline"})
    logged, err = _terminate_mid_run(proc, isolated_wandb / "p1")
    assert proc.returncode == 7 and "own handler ran" in err, err[-2000:]
    [[run]] = runs_by_id(wandb_dir).values()
    assert set(logged) <= set(run.metric("i"))
    assert run.exit_code == PREEMPTED_EXIT_CODE


def test_sigterm_without_the_plugin_handler_keeps_default_exit_status(isolated_wandb: Path) -> None:
    """Outside any run the handler only passes the signal on: the process dies as before."""
    script = (
        "import os, signal, flyte\n"
        "from flyteplugins.wandb import wandb_init\n"
        "env = flyte.TaskEnvironment(name='idle')\n"
        "@wandb_init\n@env.task\ndef t() -> int:\n    return 1\n"
        "print('installed', signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None), flush=True)\n"
        "os.kill(os.getpid(), signal.SIGTERM)\n"
        "print('survived', flush=True)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=HANG_GUARD)
    assert proc.returncode == -signal.SIGTERM, proc.stderr[-2000:]
    assert "installed True" in proc.stdout and "survived" not in proc.stdout
