"""Failures, overrides, retries, offline default, secrets, links and decoration errors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import flyte
import pytest

from flyteplugins.wandb import Wandb, WandbConfigError, get_wandb_run, wandb_config, wandb_init
from flyteplugins.wandb.testing import read_offline_runs, runs_by_id

env = flyte.TaskEnvironment(name="core_life")


def run_local(task, *args, name: str = "r1", custom_context=None, **kwargs):
    rc = flyte.with_runcontext(mode="local", name=name, custom_context=custom_context or {})
    return rc.run(task, *args, **kwargs)


class BoomError(RuntimeError):
    pass


# -- 6. failures -------------------------------------------------------------------------------


@wandb_init
@env.task
async def failing_async() -> None:
    run = get_wandb_run()
    for step in range(3):
        run.log({"loss": 1.0 - step / 10})
    raise BoomError("kaboom")


@wandb_init
@env.task
def failing_sync() -> None:
    get_wandb_run().log({"loss": 0.5})
    raise BoomError("sync kaboom")


@pytest.mark.parametrize("task", [failing_async, failing_sync], ids=["async", "sync"])
def test_failed_task_marks_run_failed_keeps_metrics_and_reraises(task, wandb_dir: Path) -> None:
    with pytest.raises(Exception) as info:
        run_local(task, name="fail")
    # Flyte wraps a root failure in RuntimeUserError whose code is the original class name.
    assert "BoomError" in str(info.value) or "kaboom" in str(info.value)
    [run] = read_offline_runs(wandb_dir)
    assert run.exit_code not in (None, 0)
    assert len(run.metric("loss")) >= 1


def test_plain_function_exception_reaches_caller_unchanged(wandb_dir: Path) -> None:
    err = BoomError("plain")

    @wandb_init
    def objective() -> None:
        get_wandb_run().log({"v": 1})
        raise err

    with pytest.raises(BoomError) as info:
        objective()
    assert info.value is err
    [run] = read_offline_runs(wandb_dir)
    assert run.exit_code == 1 and run.metric("v") == [1]


@wandb_init
@env.task
async def child_raises() -> None:
    raise BoomError("child")


@wandb_init(project="caught")
@env.task
async def parent_catches() -> str:
    try:
        await child_raises()
    except Exception as exc:  # Flyte hands the parent a RuntimeUserError naming BoomError
        return type(exc).__name__ + ":" + str(getattr(exc, "code", ""))
    return "no error"


def test_child_failure_reaches_parent(wandb_dir: Path) -> None:
    out = run_local(parent_catches, name="catch").outputs()[0]
    assert "BoomError" in out
    [run] = read_offline_runs(wandb_dir)
    assert run.exit_code == 0  # the parent handled it


# -- 7. override ------------------------------------------------------------------------------


@wandb_init(project="ovr")
@env.task
async def overridable(x: int) -> str:
    get_wandb_run().log({"x": x})
    return get_wandb_run().id


@env.task
async def calls_override() -> str:
    t = overridable.override(retries=2, resources=flyte.Resources(cpu="1"), short_name="renamed")
    return await t(7)


def test_override_keeps_tracking(wandb_dir: Path) -> None:
    rid = run_local(calls_override, name="ovr").outputs()[0]
    [run] = read_offline_runs(wandb_dir)
    assert run.id == rid and run.metric("x") == [7] and run.exit_code == 0
    assert any(isinstance(link, Wandb) for link in overridable.override(retries=1).links)


# -- 8. retries --------------------------------------------------------------------------------

_attempts: dict[str, int] = {}


@wandb_init(project="retry")
@env.task(retries=2)
async def flaky(key: str) -> str:
    _attempts[key] = _attempts.get(key, 0) + 1
    run = get_wandb_run()
    run.log({"attempt": _attempts[key]})
    if _attempts[key] == 1:
        raise BoomError("first attempt fails")
    return run.id


def test_retry_continues_the_same_run_id(wandb_dir: Path) -> None:
    rid = run_local(flaky, "k1", name="retry").outputs()[0]
    assert _attempts["k1"] == 2
    files = runs_by_id(wandb_dir)
    assert list(files) == [rid]  # one run id, no duplicate runs
    parts = files[rid]
    assert [p.metric("attempt") for p in parts] == [[1], [2]]  # the first attempt's data stays
    assert parts[0].exit_code == 1 and parts[-1].exit_code == 0
    assert parts[-1].resumed or len(parts) == 2


# -- 9. secrets --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"api_key": "x" * 40},
        {"wandb_token": "abc"},
        {"client_secret": "s"},
        {"settings": {"api_key": "x" * 40}},
        {"openai_api_key": "sk-1"},
    ],
)
def test_secrets_are_refused_everywhere(kwargs) -> None:
    with pytest.raises(WandbConfigError, match="WANDB_API_KEY") as info:
        wandb_config(**kwargs)
    assert "flyte.Secret" in str(info.value)
    with pytest.raises(WandbConfigError, match=r"flyte\.Secret"):
        wandb_init(**kwargs)


def test_live_key_value_is_refused_in_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    with pytest.raises(WandbConfigError, match="contains the W&B API key"):
        wandb_config(config={"harmless_name": "k" * 40})


def test_ml_hyperparameters_with_key_like_words_are_fine() -> None:
    cfg = wandb_config(config={"max_tokens": 10, "tokenizer": "bpe", "num_keys": 3})
    assert cfg.config == {"max_tokens": 10, "tokenizer": "bpe", "num_keys": 3}


# -- 10. offline by default --------------------------------------------------------------------


@wandb_init(project="offline-default")
@env.task
async def offline_task() -> str:
    get_wandb_run().log({"m": 1})
    return get_wandb_run().id


def test_no_key_goes_offline_with_one_line_notice(wandb_dir: Path, capfd: pytest.CaptureFixture[str]) -> None:
    rid = run_local(offline_task, name="off").outputs()[0]
    err = capfd.readouterr().err
    notices = [line for line in err.splitlines() if "saved offline" in line]
    assert len(notices) == 1
    [run] = read_offline_runs(wandb_dir)
    assert run.id == rid and run.metric("m") == [1]
    assert f"wandb sync {run.path.parent}" in notices[0]


# -- 11. links ---------------------------------------------------------------------------------


@wandb_init(project="lp", entity="le", host="https://wandb.example.com")
@env.task
async def linked() -> None:
    return None


def test_link_uses_host_entity_project_and_run_id() -> None:
    [link] = [lk for lk in linked.links if isinstance(lk, Wandb)]
    url = link.get_link("run1", "fp", "dev", {}, "a0", "a1", "pod")
    assert url == "https://wandb.example.com/le/lp/runs/run1-a1"
    # a child in auto mode points at the parent's advertised run
    child_url = link.get_link("run1", "fp", "dev", {"_wandb_run_id": "run1-a0"}, "a0", "a1", "pod")
    assert child_url == "https://wandb.example.com/le/lp/runs/run1-a0"


def test_link_reads_project_entity_host_from_context() -> None:
    link = Wandb()
    ctx = dict(wandb_config(project="cp", entity="ce", host="http://127.0.0.1:9000"))
    assert link.get_link("r", "p", "d", ctx, "a0", "a3", "pod") == "http://127.0.0.1:9000/ce/cp/runs/r-a3"


def test_link_never_contains_secret() -> None:
    ctx = {"wandb_project": "p", "wandb_entity": "e", "WANDB_API_KEY": "k" * 40}
    assert "k" * 40 not in Wandb().get_link("r", "p", "d", ctx, "a0", "a1", "pod")


# -- 4. host ------------------------------------------------------------------------------------


@wandb_init(project="hp", host="http://127.0.0.1:1", mode="offline")
@env.task
async def hosted() -> str:
    return str(get_wandb_run().settings.base_url)


def test_host_points_wandb_at_the_server(wandb_dir: Path) -> None:
    assert run_local(hosted, name="host").outputs()[0].rstrip("/") == "http://127.0.0.1:1"


# -- 12. bad input fails early -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"run_mode": "sometimes"}, "run_mode='sometimes' is not valid; allowed values: 'auto', 'new', 'shared'"),
        ({"rank_scope": "node"}, "rank_scope='node' is not valid; allowed values: 'global', 'worker'"),
        ({"mode": "cloud"}, "mode='cloud' is not valid"),
        ({"config": {"fn": object()}}, "config must be JSON-serializable"),
        ({"tags": "single"}, "tags must be a list or tuple of strings"),
        ({"host": "wandb.example.com"}, "host must start with http"),
    ],
)
def test_bad_input_is_rejected_at_decoration_and_config_time(kwargs, needle) -> None:
    with pytest.raises(WandbConfigError, match=re.escape(needle)):
        wandb_init(**kwargs)
    with pytest.raises(WandbConfigError, match=re.escape(needle)):
        wandb_config(**kwargs)


def test_not_outermost_is_rejected_at_decoration_time() -> None:
    with pytest.raises(WandbConfigError, match="must be the outermost decorator"):

        @env.task
        @wandb_init
        async def wrong_order() -> None:
            return None


def test_unknown_kwarg_in_context_must_be_json() -> None:
    with pytest.raises(WandbConfigError, match=r"save_code.*JSON"):
        wandb_config(save_code=object())


# -- 13. import cost ---------------------------------------------------------------------------


def test_import_does_not_load_wandb_or_flyte_io() -> None:
    code = (
        "import sys, flyteplugins.wandb as w; "
        "from flyteplugins.wandb import wandb_init, wandb_config, get_wandb_run, Wandb, RunMode, RankScope; "
        "print(sorted(m for m in ('wandb', 'flyte.io') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_link_follows_run_mode_from_context_when_decorator_is_silent() -> None:
    [link] = [lk for lk in linked.links if isinstance(lk, Wandb)]
    ctx = {"_wandb_run_id": "run1-a0", **wandb_config(run_mode="new")}
    assert link.get_link("run1", "fp", "dev", ctx, "a0", "a1", "pod") == "https://wandb.example.com/le/lp/runs/run1-a1"
