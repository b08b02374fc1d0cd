"""Pure logic of checkpoint retention and registry paths: which versions go, which arguments fail."""

from __future__ import annotations

import pytest

from flyteplugins.wandb_core import WandbConfigError
from flyteplugins.wandb_core._artifact_names import parse_artifact_ref
from flyteplugins.wandb_core._checkpoint import Retention, Version, check_retention, metric_value, to_delete
from flyteplugins.wandb_core._registry import check_registry_target


def _steps(versions: list[Version]) -> list[int]:
    return [v.step for v in versions]


def _saved(losses: dict[int, float], protected: tuple[int, ...] = ()) -> list[Version]:
    return [Version(key=s, step=s, value=v, protected=s in protected) for s, v in losses.items()]


def test_keep_last_and_best_drop_the_rest() -> None:
    losses = {0: 1.0, 5: 0.5, 10: 0.1, 15: 0.4, 20: 0.3}
    policy = Retention(keep_last=2, best=("loss", "min"))
    assert _steps(to_delete(_saved(losses), policy)) == [0, 5]  # 10 is best, 15 and 20 the last two


def test_max_goal_and_ties_go_to_the_newest() -> None:
    losses = {0: 0.9, 1: 0.9, 2: 0.1}
    assert _steps(to_delete(_saved(losses), Retention(keep_last=1, best=("acc", "max")))) == [0]


def test_protected_and_newest_are_never_deleted() -> None:
    losses = {0: 1.0, 1: 2.0, 2: 3.0}
    assert _steps(to_delete(_saved(losses, protected=(0,)), Retention(keep_last=1))) == [1]
    # keep_best alone: the best and the newest only.
    assert _steps(to_delete(_saved(losses), Retention(best=("loss", "min")))) == [1]
    assert to_delete(_saved(losses), Retention()) == []  # no policy: keep everything


@pytest.mark.parametrize(
    ("keep_last", "keep_best", "message"),
    [
        (0, None, "keep_last must be an int >= 1"),
        (True, None, "keep_last must be an int >= 1"),
        (None, ("loss", "lowest"), "goal 'min' or 'max'"),
        (None, "loss", "keep_best must be a \\(metric, goal\\) pair"),
        (None, ("", "min"), "keep_best must be"),
    ],
)
def test_bad_retention_arguments_fail_naming_the_argument(keep_last, keep_best, message) -> None:
    with pytest.raises(WandbConfigError, match=message):
        check_retention("save_wandb_checkpoint", keep_last, keep_best)


def test_metric_value_from_metadata_then_summary() -> None:
    assert metric_value("w", "loss", {"loss": 0.5}, {"loss": 9}) == 0.5
    assert metric_value("w", "loss", {}, {"loss": 2}) == 2.0
    with pytest.raises(WandbConfigError, match="ranks checkpoints by 'loss'"):
        metric_value("w", "loss", {}, {})


def test_registry_targets() -> None:
    t = check_registry_target("w", "wandb-registry-model/demo")
    assert (t.registry, t.collection, t.org, t.path()) == ("model", "demo", None, "wandb-registry-model/demo")
    with_org = "acme/wandb-registry-model/demo"
    assert check_registry_target("w", with_org).path() == with_org
    for bad in ("model/demo", "wandb-registry-model/demo:staging", "wandb-registry-/demo", "x", 3):
        with pytest.raises(WandbConfigError, match="registry"):
            check_registry_target("w", bad)


def test_a_registry_reference_is_not_given_the_run_entity() -> None:
    ref = parse_artifact_ref("w", "wandb-registry-model/demo:staging")
    assert ref.path("me", "proj") == "wandb-registry-model/demo:staging"
    assert parse_artifact_ref("w", "other/name").path("me", "proj") == "me/other/name:latest"
