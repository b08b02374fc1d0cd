"""``download_wandb_sweep_dirs()`` without a sweep id finds the sweep it runs in or under.

Core asks the sweeps package (its public ``get_wandb_sweep_id`` / ``get_wandb_sweep_context``); the
child case runs a real Flyte task in local mode under the context a sweep task hands its children.
"""

from __future__ import annotations

import sys

import flyte
import pytest

from flyteplugins.wandb_core._download import _resolve_sweep
from flyteplugins.wandb_sweeps._config import SweepState
from flyteplugins.wandb_sweeps._sweep import sweep_scope

pytestmark = pytest.mark.integration

env = flyte.TaskEnvironment(name="sweep_download_defaults_it")
STATE = SweepState(sweep_id="sw9", mode="online", config={"method": "grid"}, project="p", entity="e")


@env.task
def resolve_in_child() -> list:
    return list(_resolve_sweep(None, None, None, None))


@pytest.fixture(autouse=True)
def _no_wandb_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("WANDB_SWEEP_ID", "WANDB_PROJECT", "WANDB_ENTITY"):
        monkeypatch.delenv(var, raising=False)


def test_in_the_sweep_task_the_sweep_s_id_project_and_entity_are_the_defaults() -> None:
    with sweep_scope(STATE):
        assert _resolve_sweep(None, None, None, None) == ("sw9", "p", "e", None)
        assert _resolve_sweep(None, "q", None, None) == ("sw9", "q", "e", None)  # given values win


def test_a_child_task_reads_the_sweep_from_the_context_its_parent_handed_down() -> None:
    run = flyte.with_runcontext(mode="local", name="dl-defaults", custom_context=STATE.context_keys()).run(
        resolve_in_child
    )
    assert run.outputs()[0] == ["sw9", "p", "e", None]


def test_outside_a_sweep_the_id_is_required() -> None:
    with pytest.raises(RuntimeError, match="no sweep_id given and no sweep is active here"):
        _resolve_sweep(None, None, None, None)


def test_without_the_sweeps_package_only_wandb_s_agent_variable_names_a_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "flyteplugins.wandb_sweeps", None)  # as in a core-only install
    monkeypatch.setenv("WANDB_SWEEP_ID", "agent-sweep")
    with sweep_scope(STATE):
        assert _resolve_sweep(None, None, None, None)[0] == "agent-sweep"
