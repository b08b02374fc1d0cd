"""Pure logic of the artifact helpers: names, references, aliases, lineage, output naming."""

from __future__ import annotations

from types import SimpleNamespace
from typing import NamedTuple

import pytest

from flyteplugins.wandb_core import WandbConfigError
from flyteplugins.wandb_core._artifact_names import (
    ArtifactRef,
    check_aliases,
    check_artifact_name,
    check_artifact_type,
    check_metadata,
    flyte_lineage,
    name_from_path,
    parse_artifact_ref,
)


@pytest.mark.parametrize("name", ["model", "model.pt", "train-data_v2", "a" * 128])
def test_valid_names_pass(name: str) -> None:
    assert check_artifact_name("f", name) == name


@pytest.mark.parametrize(
    ("name", "needle"),
    [("", "must not be empty"), ("a/b", "'/'"), ("a:b", "':'"), ("my model", "' '"), ("a" * 129, "129")],
)
def test_invalid_names_say_why(name: str, needle: str) -> None:
    with pytest.raises(WandbConfigError, match="name") as err:
        check_artifact_name("log_wandb_artifact", name)
    assert needle in str(err.value) and "log_wandb_artifact" in str(err.value)


def test_name_must_be_str() -> None:
    with pytest.raises(WandbConfigError, match="must be a str"):
        check_artifact_name("f", 3)


@pytest.mark.parametrize("bad", ["", "a/b", "a:b", "wandb-history"])
def test_invalid_types(bad: str) -> None:
    with pytest.raises(WandbConfigError, match="type"):
        check_artifact_type("f", bad)


def test_aliases_list_dedup_and_errors() -> None:
    assert check_aliases("f", None) == []
    assert check_aliases("f", ["best", "best", "prod"]) == ["best", "prod"]
    with pytest.raises(WandbConfigError, match="list of str"):
        check_aliases("f", "best")  # a str would become b, e, s, t
    with pytest.raises(WandbConfigError, match="alias"):
        check_aliases("f", ["a:b"])


def test_metadata_reserves_the_lineage_key() -> None:
    assert check_metadata("f", None) == {}
    assert check_metadata("f", {"acc": 1}) == {"acc": 1}
    with pytest.raises(WandbConfigError, match="reserved"):
        check_metadata("f", {"flyte": {}})
    with pytest.raises(WandbConfigError, match="dict"):
        check_metadata("f", [1])


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/tmp/x/model.pt", "model.pt"),
        ("/tmp/x/my data/", "my-data"),
        ("s3://b/k/ckpt dir", "ckpt-dir"),
        ("/", "artifact"),
    ],
)
def test_default_names_from_paths(path: str, name: str) -> None:
    assert name_from_path(path) == name
    check_artifact_name("f", name)


@pytest.mark.parametrize(
    ("ref", "parsed"),
    [
        ("ds", ArtifactRef("ds")),
        ("ds:v3", ArtifactRef("ds", "v3")),
        ("p/ds:best", ArtifactRef("ds", "best", project="p")),
        ("e/p/ds:latest", ArtifactRef("ds", "latest", project="p", entity="e")),
    ],
)
def test_parse_references(ref: str, parsed: ArtifactRef) -> None:
    assert parse_artifact_ref("f", ref) == parsed


def test_reference_paths_fill_in_the_run_project() -> None:
    assert parse_artifact_ref("f", "ds").path("e", "p") == "e/p/ds:latest"
    assert parse_artifact_ref("f", "q/ds:v1").path("e", "p") == "e/q/ds:v1"


@pytest.mark.parametrize("ref", ["", "a/b/c/d", "ds:", "/ds", "e//ds", 5, "p/d s:latest"])
def test_bad_references(ref: object) -> None:
    with pytest.raises(WandbConfigError, match="use_wandb_artifact"):
        parse_artifact_ref("use_wandb_artifact", ref)


def test_lineage_from_a_task_context() -> None:
    action = SimpleNamespace(name="a1", run_name="r1", project="proj", domain="dev")
    ctx = SimpleNamespace(action=action, mode="remote")
    assert flyte_lineage(ctx, "https://flyte/x") == {
        "in_task": True,
        "run_name": "r1",
        "action_name": "a1",
        "project": "proj",
        "domain": "dev",
        "mode": "remote",
        "url": "https://flyte/x",
    }
    assert flyte_lineage(None) == {"in_task": False}


def test_outputs_are_named_like_flyte_outputs() -> None:
    import flyte.io

    from flyteplugins.wandb_core._artifacts import _outputs

    f, d = flyte.io.File(path="/tmp/a.bin"), flyte.io.Dir(path="/tmp/d")
    assert _outputs("train", f) == [("train-o0", f)]
    assert _outputs("train", (1, f, d)) == [("train-o1", f), ("train-o2", d)]

    class Out(NamedTuple):
        model: flyte.io.File
        n: int

    assert _outputs("train", Out(f, 2)) == [("train-model", f)]
    assert _outputs("train", 3) == []


def test_checkpoint_primary_reads_rank() -> None:
    from flyteplugins.wandb_core._checkpoint import checkpoint_name, is_primary

    assert is_primary({}) and is_primary({"RANK": "0"}) and not is_primary({"RANK": "1"})
    assert checkpoint_name("run/1") == "checkpoint-run-1"


def test_helpers_refuse_outside_a_tracked_task(tmp_path) -> None:
    from flyteplugins.wandb_core import log_wandb_artifact, save_wandb_checkpoint, use_wandb_artifact

    (tmp_path / "x").write_text("x")
    with pytest.raises(WandbConfigError, match="@wandb_init"):
        log_wandb_artifact(str(tmp_path / "x"))
    with pytest.raises(WandbConfigError, match="@wandb_init"):
        use_wandb_artifact("ds:latest")
    with pytest.raises(WandbConfigError, match="step"):
        save_wandb_checkpoint(str(tmp_path / "x"), step=-1)
    with pytest.raises(WandbConfigError, match="does not exist"):
        log_wandb_artifact(str(tmp_path / "missing"))


def test_log_outputs_must_be_bool() -> None:
    from flyteplugins.wandb_core import wandb_init

    with pytest.raises(WandbConfigError, match="log_outputs"):
        wandb_init(log_outputs="yes")


def test_only_the_primary_rank_saves_checkpoints(tmp_path, monkeypatch) -> None:
    from flyteplugins.wandb_core import save_wandb_checkpoint

    (tmp_path / "ckpt").write_text("1")
    monkeypatch.setenv("RANK", "1")
    # Not rank 0: nothing to do, not even a run to look up (this test has none).
    assert save_wandb_checkpoint(str(tmp_path / "ckpt"), step=1) is None
    with pytest.raises(WandbConfigError, match="@wandb_init"):
        save_wandb_checkpoint(str(tmp_path / "ckpt"), step=1, all_ranks=True)


def test_the_written_out_type_default_is_default_type() -> None:
    import inspect

    from flyteplugins.wandb_core import _artifacts

    for fn in (_artifacts.log_wandb_artifact, _artifacts.use_wandb_artifact):
        default = inspect.signature(fn).parameters["type"].default
        assert default in (_artifacts.DEFAULT_TYPE, None), fn.__name__
