"""Fail-open for inputs W&B itself refuses: the task's result comes back, with one warning line.

Some refusals are not caught when decorating (the decorator does not import wandb): a
``wandb.Settings`` value wandb's own validator rejects, say. wandb refuses them online and offline
alike, so the run is opened disabled (the body's ``run.log`` still works) and one ``wandb:`` line
names the cause. Checked offline, and online against the loopback W&B server (which then stored
nothing for the run).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import flyte
import pytest

from flyteplugins.wandb import WandbTrackingError, get_wandb_run, wandb_init
from flyteplugins.wandb_core._lifecycle import finish_run, reset_breaker, start_run
from flyteplugins.wandb_core._resolve import RunPlan

pytestmark = pytest.mark.integration

env = flyte.TaskEnvironment(name="fail_open_rejected")


@pytest.fixture(autouse=True)
def _fresh_breaker() -> Any:
    reset_breaker()
    yield
    reset_breaker()


def _warnings(err: str) -> list[str]:
    # wandb's own lines start with "wandb: " too; the plugin's warning is the one naming the run.
    return [line for line in err.splitlines() if line.startswith("wandb:") and "not tracked" in line]


@wandb_init(project="rejected", settings={"console": "bogus"})
@env.task
async def refused_setting(n: int) -> int:
    run = get_wandb_run()
    for i in range(n):
        run.log({"m": i})  # a disabled run takes the calls
    return n * 2


@wandb_init(project="rejected", on_error="raise", settings={"console": "bogus"})
@env.task
async def refused_setting_raise(n: int) -> int:
    return n


def _run(task: Any, *args: Any, name: str) -> Any:
    return flyte.with_runcontext(mode="local", name=name).run(task, *args).outputs()[0]


@pytest.mark.parametrize("where", ["offline", "online"])
def test_refused_setting_keeps_the_result_and_says_why_once(
    where: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    server = request.getfixturevalue("wandb_server") if where == "online" else None
    if server is None:
        monkeypatch.setenv("WANDB_MODE", "offline")
    assert _run(refused_setting, 3, name=f"rej-{where}") == 6
    [line] = _warnings(capfd.readouterr().err)
    assert "console" in line and "wandb.init failed" in line, line
    if server is not None:
        assert server.runs() == []


def test_on_error_raise_still_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    with pytest.raises(flyte.errors.RuntimeUserError) as info:
        _run(refused_setting_raise, 1, name="rej-raise")
    assert info.value.code == WandbTrackingError.__name__ and "console" in str(info.value)


@pytest.mark.parametrize(
    "init_kwargs",
    [
        {"tags": ["t" * 65]},  # wandb's Settings: run_tags too long, in every mode
        {"project": "a/b"},  # wandb: invalid project name, in every mode
        {"config_include_keys": ["a"], "config_exclude_keys": ["b"]},  # wandb: mutually exclusive
    ],
    ids=["long-tag", "bad-project", "include-and-exclude"],
)
def test_start_run_never_raises_for_an_input_wandb_refuses_in_every_mode(
    init_kwargs: dict[str, Any], wandb_server: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    """The last line of defence below the decorator's checks: even the disabled fallback is refused
    with these arguments, which used to fail the task with wandb's own error."""
    plan = RunPlan(
        action="init",
        run_id="rejected-1",
        init_kwargs={"id": "rejected-1", "resume": "allow", "reinit": "create_new", **init_kwargs},
        settings={"init_timeout": 10.0},
        finish_timeout=5.0,
    )
    active = start_run(plan)
    active.run.log({"m": 1})  # the body's calls still work
    finish_run(active, None)
    [line] = _warnings(capfd.readouterr().err)
    assert "rejected-1" in line and "wandb.init failed" in line, line
    assert wandb_server.runs() == []


def test_start_run_offline_input_refused(wandb_dir: Path, capfd: pytest.CaptureFixture[str]) -> None:
    plan = RunPlan(
        action="init", run_id="rej-off", init_kwargs={"id": "rej-off", "mode": "offline", "tags": ["x" * 70]}
    )
    active = start_run(plan)
    active.run.log({"m": 1})
    finish_run(active, None)
    [line] = _warnings(capfd.readouterr().err)
    assert "run_tags" in line or "tag" in line.lower(), line
    assert not list(wandb_dir.glob("offline-run-*"))
