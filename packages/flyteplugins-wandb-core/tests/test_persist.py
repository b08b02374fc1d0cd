"""Where offline runs are kept (pure logic), and listing a store laid out as pods leave it."""

from __future__ import annotations

from pathlib import Path

import flyte
import pytest

from flyteplugins.wandb_core import _persist
from flyteplugins.wandb_core.sync import list_stored_runs, sync_offline_runs


@pytest.mark.parametrize(
    ("raw", "root"),
    [
        ("s3://my-bucket/data/ab/run-x/a0", "s3://my-bucket"),
        ("gs://bkt/raw/", "gs://bkt"),
        ("abfs://container@account.dfs.core.windows.net/raw/x", "abfs://container@account.dfs.core.windows.net"),
        ("/mnt/flyte/raw/", "/mnt/flyte/raw"),
    ],
)
def test_store_root_is_the_raw_data_bucket(raw: str, root: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(_persist.STORE_ENV, raising=False)
    assert _persist.store_root(raw) == root


def test_store_env_overrides_the_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_persist.STORE_ENV, "s3://central/")
    assert _persist.store_root("s3://my-bucket/raw") == "s3://central"


def test_attempts_have_their_own_prefix_and_share_checkpoints() -> None:
    loc = _persist.Location("s3://b", "r1", "a0", 2)
    assert loc.prefix == "s3://b/wandb-offline/r1/a0/2"
    assert loc.checkpoints == "s3://b/wandb-offline/r1/a0/checkpoints"


def test_nothing_is_kept_outside_a_task_or_in_local_mode(tmp_path: Path) -> None:
    assert _persist.location() is None
    assert _persist.persist_run("x", str(tmp_path)) is None

    env = flyte.TaskEnvironment(name="persist_unit")

    @env.task
    def where() -> str:
        return repr(_persist.location())

    flyte.init()
    assert flyte.with_runcontext(mode="local").run(where).outputs()[0] == "None"


def _touch(path: Path, text: str = "x") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_listing_a_store_orders_attempts_and_sees_sync_markers(tmp_path: Path) -> None:
    base = tmp_path / "wandb-offline" / "r1"
    a0 = "offline-run-20260101_000001-r1-a0"
    _touch(base / "a0" / "0" / a0 / "run-r1-a0.wandb")
    _touch(base / "a0" / "0" / f"{a0}.json", '{"run_id": "r1-a0", "sync_id": "", "online": false}')
    _touch(base / "a0" / "0" / f"{a0}.synced")
    a1 = "offline-run-20260101_000009-r1-a0"
    _touch(base / "a0" / "1" / a1 / "run-r1-a0.wandb")
    child = "offline-run-20260101_000005-r1-c9"
    _touch(base / "c9" / "0" / child / "run-r1-c9.wandb")
    _touch(base / "a0" / "checkpoints" / "r1-a0" / "ckpt" / "step-3" / "checkpoint.json")
    _touch(base / "a0" / "0" / "not-a-run" / "notes.txt")

    runs = list_stored_runs("r1", store=str(tmp_path))
    # Attempts in order; within one, by start time (a parent's part before its child's later part).
    assert [(r.action, r.attempt, r.folder) for r in runs] == [("a0", 0, a0), ("c9", 0, child), ("a0", 1, a1)]
    assert [r.run_id for r in runs] == ["r1-a0", "r1-c9", "r1-a0"]
    assert [r.synced for r in runs] == [True, False, False]
    assert list_stored_runs("other", store=str(tmp_path)) == []


def test_a_sync_that_finds_nothing_names_the_run_and_the_runs_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A mistyped run name (or the wrong bucket) must not read as "0 synced, all done".
    monkeypatch.delenv(_persist.STORE_ENV, raising=False)
    folder = tmp_path / "wandb-offline" / "r1" / "a0" / "0" / "offline-run-20260101_000001-r1-a0"
    _touch(folder / "run-r1-a0.wandb")
    with pytest.raises(ValueError, match=r"run_name: no offline runs of the Flyte run 'r2' .*: r1\."):
        sync_offline_runs("r2", store=str(tmp_path), progress=False)
    with pytest.raises(ValueError, match="keeps no offline runs at all"):
        sync_offline_runs("r1", store=str(tmp_path / "elsewhere"), progress=False)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"run_name": "", "store": "s3://b"}, "run_name"),
        ({"run_name": "a/b", "store": "s3://b"}, "run_name"),
        ({"run_name": "r", "store": None}, "store"),
        ({"run_name": "r", "store": "s3://b", "workers": 0}, "workers"),
        ({"run_name": "r", "store": "nosuch://b"}, "store: 'nosuch://b' is not a store"),
    ],
)
def test_bad_sync_input_is_named(kwargs: dict, named: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(_persist.STORE_ENV, raising=False)
    with pytest.raises(ValueError, match=named):
        sync_offline_runs(**kwargs)


def test_checkpoints_pruned_locally_leave_the_store_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "store"
    monkeypatch.setattr(_persist, "location", lambda: _persist.Location(str(store), "r1", "a0", 0))
    monkeypatch.setattr(_persist, "_warned", False)
    for step in range(3):
        local = tmp_path / "local" / f"step-{step}"
        _touch(local / "checkpoint.json", "{}")
        assert _persist.persist_checkpoint(str(local), "ckpt", step, "run1")
    base = store / "wandb-offline" / "r1" / "a0" / "checkpoints" / "run1" / "ckpt"
    assert sorted(p.name for p in base.iterdir()) == ["step-0", "step-1", "step-2"]
    _persist.forget_checkpoints("ckpt", "run1", [0, 1, 7])  # 7: never stored, nothing to do
    assert sorted(p.name for p in base.iterdir()) == ["step-2"]


@pytest.mark.parametrize("scheme", ["", "file://"])
def test_a_checkpoint_kept_on_a_file_system_store_is_restored_in_a_fresh_pod(
    scheme: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A mounted file system (FLYTEPLUGINS_WANDB_STORE=/mnt/... or file:///mnt/...): fsspec's local file
    # system copies a folder inside a target folder that exists, where object stores write in place.
    store = f"{scheme}{tmp_path / 'store'}"
    monkeypatch.setattr(_persist, "location", lambda: _persist.Location(store, "r1", "a0", 0))
    monkeypatch.setattr(_persist, "_warned", False)
    local = tmp_path / "pod" / "step-3"
    for content in ("first", "again"):  # the step saved twice: the second copy replaces the first
        _touch(local / "checkpoint.json", '{"step": 3}')
        _touch(local / "state.txt", content)
        assert _persist.persist_checkpoint(str(local), "ckpt", 3, "run1")
    fresh = tmp_path / "fresh-pod"
    found = _persist.fetch_checkpoint("ckpt", "run1", str(fresh))
    assert found == str(fresh / "ckpt" / "step-3")
    assert sorted(p.name for p in Path(found).iterdir()) == ["checkpoint.json", "state.txt"]
    assert (Path(found) / "state.txt").read_text() == "again"
