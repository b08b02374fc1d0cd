"""The fast init path trades nothing away: real wandb, Flyte local mode, offline runs read back.

The package list is read once per process and handed to wandb (``_requirements``), and inits run
concurrently (``_concurrency``): each run must still hold the requirements.txt wandb itself writes,
and a wide fan-out must keep every run, id and step.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import flyte
import pytest
from wandb_loopback import LoopbackServer

from flyteplugins.wandb import get_wandb_run, wandb_init
from flyteplugins.wandb.testing import read_offline_runs

pytestmark = pytest.mark.integration

env = flyte.TaskEnvironment(name="throughput_it")
CHILDREN = 30
STEPS = 5


@wandb_init(run_mode="new", project="fan")
@env.task
async def child(i: int) -> str:
    run = get_wandb_run()
    for s in range(STEPS):
        run.log({"i": i, "s": s})
    return run.id


@wandb_init(project="fan")
@env.task
async def parent(n: int) -> list[str]:
    return list(await asyncio.gather(*(child(i) for i in range(n))))


@wandb_init(project="req", settings={"x_save_requirements": False})
@env.task
def no_requirements() -> None:
    get_wandb_run().log({"x": 1})


def _requirements(run_path: Path) -> bytes | None:
    path = run_path.parent / "files" / "requirements.txt"
    return path.read_bytes() if path.exists() else None


def _plain_wandb_requirements(tmp_path: Path) -> bytes:
    import wandb

    run = wandb.init(project="plain", mode="offline", dir=str(tmp_path / "plain"), reinit="create_new")
    run.finish()
    [plain] = read_offline_runs(tmp_path / "plain" / "wandb")
    data = _requirements(plain.path)
    assert data, "plain wandb wrote no requirements.txt"
    return data


def test_a_wide_fan_out_keeps_every_run_id_step_and_requirements(wandb_dir: Path, tmp_path: Path) -> None:
    out = flyte.with_runcontext(mode="local", name="fan").run(parent, CHILDREN)
    ids = out.outputs()[0]
    runs = {r.id: r for r in read_offline_runs(wandb_dir) if r.project == "fan"}
    assert len(runs) == CHILDREN + 1
    assert set(ids) <= set(runs) and len(set(ids)) == CHILDREN
    assert all(rid.startswith("fan-") for rid in runs)
    for rid in ids:
        assert runs[rid].metric("s") == list(range(STEPS)), rid
        assert runs[rid].exit_code == 0
    expected = _plain_wandb_requirements(tmp_path)
    for run in runs.values():
        # The same bytes as wandb's own scan, and recorded for upload (wandb sync).
        assert _requirements(run.path) == expected, run.id
        assert "requirements.txt" in run.files


def test_a_fan_out_keeps_few_runs_open_at_once(wandb_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Opens wait while runs are held up (not yet resumed, or finishing): wandb-core never holds
    every child's stream at once.

    Counted on the real wandb run objects (init returned, finish not yet returned). Without the
    backpressure about 90 of 200 children's runs were open together; now about 20.
    """
    import threading

    import wandb
    from wandb.sdk.wandb_run import Run

    from flyteplugins.wandb_core import _concurrency

    lock = threading.Lock()
    count = {"open": 0, "max": 0}
    real_init, real_finish = wandb.init, Run.finish

    def init(*args, **kwargs):
        run = real_init(*args, **kwargs)
        with lock:
            count["open"] += 1
            count["max"] = max(count["max"], count["open"])
        return run

    def finish(self, *args, **kwargs):
        try:
            return real_finish(self, *args, **kwargs)
        finally:
            with lock:
                count["open"] -= 1

    monkeypatch.setattr(wandb, "init", init)
    monkeypatch.setattr(Run, "finish", finish)
    n = 200
    out = flyte.with_runcontext(mode="local", name="fewopen").run(busy_parent, n)
    assert out.outputs()[0] == n
    assert count["open"] == 0
    # The parent, the backlog, the runs being opened and those whose task is logging.
    bound = 1 + 2 * _concurrency.BACKLOG + 2 * _concurrency.OPEN_WORKERS
    assert count["max"] <= bound, count


@wandb_init(run_mode="new", project="fewopen")
@env.task
async def busy_child(i: int) -> int:
    run = get_wandb_run()
    for s in range(20):
        run.log({"i": i, "s": s})
    return i


@wandb_init(project="fewopen")
@env.task
async def busy_parent(n: int) -> int:
    return len(await asyncio.gather(*(busy_child(i) for i in range(n))))


def test_requirements_turned_off_by_the_user_stay_off(wandb_dir: Path) -> None:
    flyte.with_runcontext(mode="local", name="noreq").run(no_requirements)
    [run] = read_offline_runs(wandb_dir)
    assert _requirements(run.path) is None
    assert "requirements.txt" not in run.files


@wandb_init(project="req-online")
@env.task
def online_task() -> str:
    run = get_wandb_run()
    run.log({"x": 1})
    return run.id


def test_an_online_run_uploads_the_requirements_wandb_would(wandb_server: LoopbackServer) -> None:
    import wandb

    plain = wandb.init(project="plain-online", id="plain-req", reinit="create_new")
    plain.finish()
    out = flyte.with_runcontext(mode="local", name="online").run(online_task)
    ours = wandb_server.run(out.outputs()[0])
    expected = wandb_server.run("plain-req").files.get("requirements.txt")
    assert expected, "plain wandb uploaded no requirements.txt"
    assert ours.files.get("requirements.txt") == expected


@pytest.mark.parametrize("attempt", range(3))
def test_every_child_run_is_complete_on_disk_when_the_flyte_run_returns(wandb_dir: Path, attempt: int) -> None:
    # wandb 0.30.0 returns from an offline finish before wandb-core has written the run's last
    # records: read with no grace period, the files must already hold every step and the exit record.
    out = flyte.with_runcontext(mode="local", name="fan12").run(parent, 12)
    ids = out.outputs()[0]
    runs = {r.id: r for r in read_offline_runs(wandb_dir, wait=0) if r.project == "fan"}
    assert len(runs) == 13
    steps = list(range(STEPS))
    incomplete = [rid for rid in ids if runs[rid].exit_code != 0 or runs[rid].metric("s") != steps]
    assert not incomplete, f"{len(incomplete)} of 12 child runs incomplete at return: {incomplete}"
