"""Existing scripts inside tracked tasks: their own ``wandb.init``/``wandb.log``/``wandb.finish`` calls.

Real Flyte local mode, real wandb (offline), the offline run files read back. Concurrent cases hold a
barrier so every run is really open while the others log and call ``wandb.finish()``.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import textwrap
import threading
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import flyte
import pytest
import wandb

from flyteplugins.wandb import get_wandb_run, wandb_init
from flyteplugins.wandb.testing import read_offline_runs, runs_by_id

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

env = flyte.TaskEnvironment(name="core_user_scripts")
_barriers: dict[str, threading.Barrier] = {}


def _run(task: Any, *args: Any, name: str) -> Any:
    return flyte.with_runcontext(mode="local", name=name).run(task, *args).outputs()[0]


def _script(tag: int, steps: int = 4) -> Any:
    """What an existing training script does: its own init, config, logging, define_metric, finish."""
    run = wandb.init(project="someone-elses", config={"lr": 0.1 * (tag + 1), "tag": tag}, tags=["script"])
    wandb.define_metric("epoch")
    wandb.define_metric("loss", step_metric="epoch")
    for epoch in range(steps):
        wandb.log({"epoch": epoch, "loss": 1.0 / (epoch + 1), "tag": tag})
    wandb.summary["best"] = tag
    wandb.finish()
    return run


@wandb_init(run_mode="new")
@env.task
def script_task(tag: int, barrier: str) -> dict:
    if barrier:
        _barriers[barrier].wait(60)  # every sibling's run is open before anyone logs or finishes
    run = _script(tag)
    if barrier:
        _barriers[barrier].wait(60)  # every sibling has called wandb.finish() before we log on
    after = get_wandb_run()
    after.log({"after_finish": tag})
    wandb.log({"after_finish_module": tag})
    return {"id": after.id, "same": run is after, "wandb_run_is_ours": wandb.run is after}


@wandb_init
@env.task
async def script_siblings(n: int, barrier: str) -> list[dict]:
    _barriers[barrier] = threading.Barrier(n, timeout=60)
    return list(await asyncio.gather(*(script_task.aio(i, barrier) for i in range(n))))


def _check_script_run(runs: list[Any], tag: int) -> None:
    [run] = runs  # one run: no stray second run from the script's wandb.init
    assert run.config["lr"] == pytest.approx(0.1 * (tag + 1)) and run.config["tag"] == tag
    assert run.metric("tag") == [tag] * 4
    assert run.metric("loss") == pytest.approx([1.0, 0.5, 1 / 3, 0.25])
    assert run.metric("after_finish") == [tag] and run.metric("after_finish_module") == [tag]
    assert run.summary["best"] == tag
    assert {"name": "loss", "step_metric": "epoch"} in run.metrics
    assert "script" in run.tags
    assert run.exit_code == 0


def test_a_script_that_finishes_its_run_keeps_the_task_run_open(
    wandb_dir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    out = _run(script_task, 3, "", name="one-script")
    assert out["same"] and out["wandb_run_is_ours"]
    by_id = runs_by_id(wandb_dir)
    assert list(by_id) == [out["id"]]
    _check_script_run(by_id[out["id"]], 3)
    err = capfd.readouterr().err
    assert "stays open until the task ends" in err
    assert "ignored project" in err  # the script's own project is named once, not silently dropped
    assert type(wandb) is types.ModuleType  # routes removed with the last run


@wandb_init(run_mode="new")
@env.task
def init_twice() -> list[str]:
    first = wandb.init(project="a", config={"a": 1})
    wandb.log({"x": 1})
    second = wandb.init(project="b", config={"b": 2})
    wandb.log({"x": 2})
    with wandb.init(notes="from a with-block") as third:
        third.log({"x": 3})
    get_wandb_run().log({"x": 4})  # the with-block's exit did not finish it
    return [first.id, second.id, third.id, get_wandb_run().id]


def test_init_twice_and_a_with_block_stay_one_run(wandb_dir: Path) -> None:
    ids = _run(init_twice, name="twice")
    assert len(set(ids)) == 1
    [run] = read_offline_runs(wandb_dir)
    assert run.metric("x") == [1, 2, 3, 4]
    assert run.config["a"] == 1 and run.config["b"] == 2
    assert run.exit_code == 0


@pytest.mark.parametrize("n", [2, 3])
def test_concurrent_scripts_each_keep_to_their_own_run(wandb_dir: Path, n: int) -> None:
    rows = _run(script_siblings, n, f"b{n}", name=f"sib{n}")
    by_id = runs_by_id(wandb_dir)
    assert len(by_id) == n + 1  # the parent and one run per child, nothing else
    for tag, row in enumerate(rows):
        assert row["same"] and row["wandb_run_is_ours"]
        _check_script_run(by_id[row["id"]], tag)
    [parent] = [r for rid, rs in by_id.items() for r in rs if rid not in {row["id"] for row in rows}]
    assert parent.history == [] and parent.exit_code == 0


def test_three_tasks_in_one_reusable_container_like_process(wandb_dir: Path) -> None:
    """A thread pool running three tracked actions at once, as ReusePolicy(concurrency=3) does."""
    _barriers["pool"] = threading.Barrier(3, timeout=60)
    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(_run, script_task, i, "pool", name=f"pool-{i}") for i in range(3)]
        rows = [f.result(timeout=240) for f in futures]
    by_id = runs_by_id(wandb_dir)
    assert sorted(by_id) == sorted(row["id"] for row in rows)
    for tag, row in enumerate(rows):
        _check_script_run(by_id[row["id"]], tag)


@wandb_init(run_mode="new")
@env.task
def explicit_second_run() -> list[str]:
    other = wandb.init(project="side", reinit="create_new", mode="offline", config={"side": True})
    other.log({"side": 1})
    other.finish()
    get_wandb_run().log({"main": 1})
    return [get_wandb_run().id, other.id]


def test_reinit_create_new_is_a_separate_run(wandb_dir: Path) -> None:
    main_id, side_id = _run(explicit_second_run, name="side")
    assert main_id != side_id
    by_id = runs_by_id(wandb_dir)
    [main], [side] = by_id[main_id], by_id[side_id]
    assert main.metric("main") == [1] and main.metric("side") == []
    assert side.metric("side") == [1] and side.config["side"] is True and side.exit_code == 0


_USER_FILE = """
import flyte
from flyteplugins.wandb import wandb_init

env = flyte.TaskEnvironment(name="imported_only")


@wandb_init
@env.task
def train() -> None:
    pass
"""


def test_importing_a_tracked_module_changes_nothing_process_wide(tmp_path: Path) -> None:
    (tmp_path / "user_tasks.py").write_text(_USER_FILE)
    probe = textwrap.dedent(
        """
        import signal, types
        import wandb
        before = (signal.getsignal(signal.SIGTERM), wandb.log, type(wandb))
        import user_tasks
        after = (signal.getsignal(signal.SIGTERM), wandb.log, type(wandb))
        assert before == after, (before, after)
        assert type(wandb) is types.ModuleType
        print("unchanged")
        """
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "unchanged" in out.stdout, out.stderr


@wandb_init(run_mode="new")
@env.task
def routed_while_open() -> bool:
    return type(wandb) is not types.ModuleType and wandb.log == get_wandb_run().log


def test_routes_exist_while_a_run_is_open_and_wandb_is_its_own_after(wandb_dir: Path) -> None:
    own_log = wandb.log
    assert _run(routed_while_open, name="routes") is True
    assert type(wandb) is types.ModuleType and wandb.log is own_log
    with pytest.raises(wandb.Error):  # wandb's own message again: "You must call wandb.init() ..."
        wandb.log({"x": 1})


# -- artifacts named after the run -----------------------------------------------------------------


@wandb_init(run_mode="new")
@env.task
def names_an_artifact_after_its_run() -> str:
    # W&B's own examples and HF's WandbCallback (with TrainingArguments.run_name) name artifacts
    # after the run, which W&B only accepts with letters, digits, "-", "_" and ".".
    Path("weights.txt").write_text("0.5")
    artifact = wandb.Artifact(f"model-{wandb.run.name}", type="model")
    artifact.add_file("weights.txt")
    wandb.log_artifact(artifact)
    return get_wandb_run().id


def test_an_artifact_named_after_the_run_is_accepted(wandb_dir: Path) -> None:
    run_id = _run(names_an_artifact_after_its_run, name="artifact-name")
    [run] = runs_by_id(wandb_dir)[run_id]
    assert run.name.startswith("names_an_artifact_after_its_run")  # still the task's readable name
    assert [a["name"] for a in run.artifacts] == [f"model-{run.name}"]
    assert run.exit_code == 0


# -- exit codes a script asks for ------------------------------------------------------------------


@wandb_init(run_mode="new")
@env.task
def finishes_with_a_code(how: str) -> str:
    wandb.log({"x": 1})
    if how == "module":
        wandb.finish(exit_code=3)
    elif how == "run":
        wandb.run.finish(exit_code=3)
    else:  # a with-block whose failure the script catches and survives
        try:
            with wandb.init() as run:
                run.log({"x": 1.5})
                raise ValueError("diverged")
        except ValueError:
            pass
    wandb.finish()  # a later plain finish (a framework's tracker) does not clear the failure
    get_wandb_run().log({"x": 2})
    return get_wandb_run().id


@pytest.mark.parametrize(("how", "code"), [("module", 3), ("run", 3), ("with", 1)])
def test_a_failure_the_script_declares_is_kept_until_the_run_finishes(wandb_dir: Path, how: str, code: int) -> None:
    run_id = _run(finishes_with_a_code, how, name=f"code-{how}")
    [run] = runs_by_id(wandb_dir)[run_id]
    assert run.metric("x")[0] == 1 and run.metric("x")[-1] == 2  # the rows after finish are kept
    assert run.exit_code == code  # the run is marked failed, as wandb.finish(exit_code=...) asked


# -- wandb.init's config as wandb reads it ---------------------------------------------------------


@wandb_init(run_mode="new")
@env.task
def init_with_a_namespace() -> str:
    args = argparse.Namespace(lr=0.1, batch=8, api_token="not-for-the-config")
    wandb.init(config=args, config_exclude_keys=["api_token"])
    wandb.init(config={"layers": 2, "seed": 1}, config_include_keys=["layers"])
    return get_wandb_run().id


def test_init_config_from_argparse_honours_include_and_exclude_keys(wandb_dir: Path) -> None:
    run_id = _run(init_with_a_namespace, name="namespace")
    [run] = runs_by_id(wandb_dir)[run_id]
    assert run.config["lr"] == 0.1 and run.config["batch"] == 8 and run.config["layers"] == 2
    assert "api_token" not in run.config and "seed" not in run.config


# -- a script run in a worker thread --------------------------------------------------------------


def _script_in_a_worker() -> str:
    """An existing script as an async task runs it off the event loop: its own init/finish calls."""
    with wandb.init(config={"from_worker": True}) as run:  # the with-block's end calls run._finish()
        run.log({"x": 1})
    run.log({"x": 2})
    run.finish()
    return str(run.id)


@wandb_init(run_mode="new")
@env.task
async def script_in_an_executor() -> list[str]:
    # run_in_executor (unlike asyncio.to_thread) copies no context: the worker has no tracked
    # caller, and the task's run is the only one open, so the worker's calls belong to it.
    seen = await asyncio.get_running_loop().run_in_executor(None, _script_in_a_worker)
    get_wandb_run().log({"x": 3})
    return [seen, get_wandb_run().id]


def test_a_script_in_a_worker_thread_does_not_finish_the_task_run(wandb_dir: Path) -> None:
    seen, run_id = _run(script_in_an_executor, name="executor")
    assert seen == run_id
    [run] = runs_by_id(wandb_dir)[run_id]
    assert run.metric("x") == [1, 2, 3]
    assert run.config["from_worker"] is True and run.exit_code == 0


# -- the application's own run beside tracked tasks ---------------------------------------------


_task_open, _task_release = threading.Event(), threading.Event()


@wandb_init(run_mode="new")
@env.task
def waits_while_open() -> str:
    wandb.log({"task": 1})
    _task_open.set()
    _task_release.wait(60)
    return get_wandb_run().id


def test_the_applications_own_finish_while_a_tracked_task_runs(wandb_dir: Path) -> None:
    """A notebook's own run, finished with wandb.finish() while a tracked task runs in the process."""
    _task_open.clear()
    _task_release.clear()
    own = wandb.init(mode="offline", project="notebook")  # wandb's global run, outside tracked code
    with ThreadPoolExecutor(1) as pool:
        task = pool.submit(_run, waits_while_open, name="beside")
        try:
            assert _task_open.wait(60)
            wandb.log({"own": 1})
            wandb.finish()  # the application's own run: finished by wandb, as it asked
        finally:
            _task_release.set()
        task_run_id = task.result(timeout=120)
    assert wandb.run is None
    by_id = runs_by_id(wandb_dir)
    [mine], [tracked] = by_id[own.id], by_id[task_run_id]
    assert mine.metric("own") == [1] and mine.exit_code == 0
    assert tracked.metric("task") == [1] and tracked.metric("own") == [] and tracked.exit_code == 0
