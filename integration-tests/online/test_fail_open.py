"""Fail-open: a tracked task finishes and returns its result whatever the W&B server does.

Server refusing connections, answering 5xx, or dying mid-run: the task completes, tracking degrades to
offline with a notice naming the data's directory and the ``wandb sync`` command, and running that
command once the server is back puts the data on the server (checked there). ``on_error="raise"``
turns the same situations into ``WandbTrackingError``.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flyte
import pytest
from wandb_loopback import LoopbackProcess, LoopbackServer

from flyteplugins.wandb import get_wandb_run, save_wandb_checkpoint, wandb_config, wandb_init
from flyteplugins.wandb.testing import read_offline_runs
from flyteplugins.wandb_core._lifecycle import reset_breaker

pytestmark = pytest.mark.integration

env = flyte.TaskEnvironment(name="fail_open")

# Short bounds so the tests stay quick; the defaults (30 s / 60 s) are measured by
# benchmarks/bench_fail_open.py.
FAST = {"finish_timeout": 2.0, "settings": {"init_timeout": 3.0}}

_server: dict[str, Any] = {}
_ran: list[str] = []


@pytest.fixture(autouse=True)
def _fresh_breaker() -> Iterator[None]:
    reset_breaker()
    _ran.clear()
    yield
    reset_breaker()
    _server.clear()


def run_local(task, *args, name: str, custom_context=None):
    return flyte.with_runcontext(mode="local", name=name, custom_context=custom_context or {}).run(task, *args)


@wandb_init(project="fo", entity="e", **FAST)
@env.task
async def work(n: int) -> int:
    run = get_wandb_run()
    for i in range(n):
        run.log({"m": i})
    _ran.append("work")
    return n * 2


@wandb_init(project="fo", entity="e", **FAST)
@env.task
async def dies_midway(n: int) -> int:
    run = get_wandb_run()
    run.log({"m": 0})
    _server["kill"]()
    for i in range(1, n):
        run.log({"m": i})
    _ran.append("dies_midway")
    return n * 2


@wandb_init(project="fo", entity="e", **FAST)
@env.task
def checkpoints_after_death(state: str) -> int:
    """W&B dies before the run logs its first artifact: a checkpoint, with retention."""
    get_wandb_run().log({"m": 0})
    _server["kill"]()
    saved = save_wandb_checkpoint(state, step=0, keep_last=1)
    _ran.append("checkpoints_after_death")
    return 0 if saved is None else 1


def _sync_command(stderr: str) -> list[str]:
    found = re.findall(r"upload it (?:later )?with: (wandb sync [^\n]+)", stderr)
    assert found, f"no `wandb sync` hint in:\n{stderr[-3000:]}"
    argv = shlex.split(found[-1])
    return [str(Path(sys.executable).parent / "wandb"), *argv[1:]]


def _sync(stderr: str) -> None:
    cmd = _sync_command(stderr)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=dict(os.environ))
    assert done.returncode == 0, done.stdout + done.stderr


def test_server_down_task_completes_offline_and_sync_uploads_later(
    wandb_server: LoopbackServer, capfd: pytest.CaptureFixture[str]
) -> None:
    wandb_server.kill()  # connections refused
    assert run_local(work, 3, name="down").outputs()[0] == 6
    err = capfd.readouterr().err
    assert "is unreachable (ConnectionRefusedError" in err and "offline" in err
    (part,) = read_offline_runs(Path("wandb"))
    assert part.metric("m") == [0, 1, 2] and part.exit_code == 0

    wandb_server.restart()
    _sync(err)
    stored = wandb_server.run(part.id)
    assert stored.metric("m") == [0, 1, 2] and stored.exit_code == 0 and stored.project == "fo"


def test_server_answering_5xx_falls_back_after_init_timeout(
    wandb_server: LoopbackServer, capfd: pytest.CaptureFixture[str]
) -> None:
    fault = wandb_server.fail(500)
    assert run_local(work, 2, name="err5").outputs()[0] == 4
    err = capfd.readouterr().err
    assert "wandb.init failed" in err and "--id err5-" in err
    assert wandb_server.runs() == []
    # The next task in this process does not wait for the failing server again (the breaker).
    hits = fault.hits
    assert run_local(work, 1, name="err5b").outputs()[0] == 2
    assert fault.hits == hits
    (part,) = [p for p in read_offline_runs(Path("wandb")) if p.id.startswith("err5-")]
    # wandb keeps the failed id reserved in-process: the offline copy has its own id, synced back.
    real_id = re.search(r"--id (\S+)", err).group(1)
    assert part.id.startswith(real_id + "-offline-") and part.metric("m") == [0, 1]

    wandb_server.heal()
    _sync(err)
    stored = wandb_server.run(real_id)
    assert stored.metric("m") == [0, 1] and stored.exit_code == 0


def test_server_killed_mid_run_bounds_finish_and_keeps_the_data(
    wandb_server_process: LoopbackProcess, capfd: pytest.CaptureFixture[str]
) -> None:
    _server["kill"] = wandb_server_process.kill  # SIGKILL: the server process dies without a word
    assert run_local(dies_midway, 4, name="mid").outputs()[0] == 8
    err = capfd.readouterr().err
    assert "did not confirm the upload of run" in err and "--include-online" in err

    with LoopbackServer(port=wandb_server_process.port) as revived:  # same address, empty server
        _sync(err)
        (stored,) = revived.runs()
        assert stored.metric("m") == [0, 1, 2, 3] and stored.exit_code == 0
        import wandb

        wandb.teardown()


def test_a_checkpoint_saved_after_the_server_died_is_skipped_and_the_task_goes_on(
    wandb_server_process: LoopbackProcess, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # wandb's log_artifact raised AuthenticationError ("Failed to verify credentials") here: the
    # task failed, though W&B had only stopped answering, as in every other fail-open case.
    _server["kill"] = wandb_server_process.kill
    state = tmp_path / "state.txt"
    state.write_text("0")
    assert run_local(checkpoints_after_death, str(state), name="ckpt-dead").outputs()[0] == 0
    err = capfd.readouterr().err
    assert err.count("was not logged") == 1 and "the task goes on" in err, err[-3000:]
    assert _ran == ["checkpoints_after_death"]


def test_on_error_raise_refuses_to_start_without_a_server(wandb_server: LoopbackServer) -> None:
    wandb_server.kill()
    with pytest.raises(Exception) as info:
        run_local(work, 1, name="strict", custom_context=wandb_config(on_error="raise"))
    # Flyte hands a task's exception to the caller as RuntimeUserError, `code` naming the class.
    assert getattr(info.value, "code", None) == "WandbTrackingError", repr(info.value)
    assert "is unreachable" in str(info.value)
    assert _ran == []  # the body never ran


def test_on_error_raise_fails_the_task_when_uploads_are_lost(wandb_server: LoopbackServer) -> None:
    _server["kill"] = wandb_server.kill
    with pytest.raises(Exception) as info:
        run_local(dies_midway, 2, name="strict2", custom_context=wandb_config(on_error="raise"))
    assert getattr(info.value, "code", None) == "WandbTrackingError", repr(info.value)
    assert "did not confirm the upload" in str(info.value)
    assert _ran == ["dies_midway"]


def test_recovered_server_is_used_again_after_the_breaker(
    wandb_server: LoopbackServer, capfd: pytest.CaptureFixture[str]
) -> None:
    wandb_server.kill()
    run_local(work, 1, name="b1")
    wandb_server.restart()
    # Within the breaker window the next task does not wait on the server again...
    run_local(work, 1, name="b2")
    assert wandb_server.runs() == []
    # ...and once it is reset (it expires after BREAKER_SECONDS), tracking is online again.
    reset_breaker()
    run_local(work, 1, name="b3")
    (stored,) = wandb_server.runs()
    assert stored.id.startswith("b3-") and stored.metric("m") == [0]
    assert capfd.readouterr().err.count("is unreachable") == 2
