"""Pure parts of the Flyte metadata on runs: input summaries, the run tag, which plans own a run."""

from __future__ import annotations

import dataclasses
import math

import pytest

from flyteplugins.wandb_core import _scope as _metadata
from flyteplugins.wandb_core._resolve import RunPlan, TaskInfo


@dataclasses.dataclass
class Cfg:
    a: int = 1


@pytest.mark.parametrize(
    ("value", "logged"),
    [
        (3, 3),
        (0.5, 0.5),
        (True, True),
        (None, None),
        ("resnet", "resnet"),
        ([1, 2, 3], [1, 2, 3]),
        ({"depth": 3, "act": "relu"}, {"depth": 3, "act": "relu"}),
        (list(range(500)), "<list, 500 items>"),
        ("x" * 600, "<str, 600 characters>"),
        ({"k": "v" * 600}, "<dict, 1 items>"),
        (Cfg(), "<dataclass Cfg>"),
        ({1, 2}, "<set, 2 items>"),
        (b"raw", "<bytes, 3>"),
        (object(), "<object>"),
    ],
)
def test_an_input_is_logged_as_json_or_summarised(value: object, logged: object) -> None:
    assert _metadata.summarise_input(value) == logged


def test_nan_is_a_float_like_any_other() -> None:
    assert math.isnan(_metadata.summarise_input(float("nan")))


def test_the_run_tag_fits_w_and_b_limit() -> None:
    assert _metadata.run_tag("r1") == "flyte-run:r1"
    assert len(_metadata.run_tag("r" * 100)) == 64


@pytest.mark.parametrize(
    ("plan", "parent", "owns"),
    [
        (RunPlan(action="init", run_id="r-a1"), None, True),
        (RunPlan(action="init", run_id="r-a1"), "r-a0", True),  # run_mode="new" under a tracked parent
        (RunPlan(action="init", run_id="r-a0", primary=False), "r-a0", False),  # shared-mode secondary
        (RunPlan(action="init", run_id="r-a0", primary=True), "r-a0", False),  # offline part of the parent
        (RunPlan(action="reuse", run_id="r-a0"), "r-a0", False),
        (RunPlan(action="skip"), None, False),
        (RunPlan(action="init", run_id=None), None, True),  # a sweep trial's id comes later
    ],
)
def test_only_a_run_the_call_owns_gets_the_identity(plan: RunPlan, parent: str | None, owns: bool) -> None:
    info = TaskInfo(in_task=True, run_name="r", action_name="a1", parent_run_id=parent)
    assert _metadata._owns_identity(plan, info) is owns


def test_no_console_url_in_local_mode_or_outside_a_task() -> None:
    class Ctx:
        mode = "local"

    assert _metadata.console_url(Ctx()) is None
    assert _metadata.console_url(None) is None


def test_apply_leaves_a_call_outside_any_task_alone() -> None:
    plan = RunPlan(action="init", init_kwargs={"config": {"lr": 1}})
    _metadata.apply(plan, TaskInfo(in_task=False), None, task=None, topology=None, inputs=None)
    assert plan.init_kwargs == {"config": {"lr": 1}}
