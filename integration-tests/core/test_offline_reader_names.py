"""`OfflineRun` uses `wandb.Run`'s names: `id` is the run id, `name` the display name."""

from __future__ import annotations

from pathlib import Path

import pytest
import wandb

from flyteplugins.wandb.testing import read_offline_runs


def test_offline_run_id_and_name_are_the_sdk_runs(wandb_dir: Path) -> None:
    run = wandb.init(mode="offline", project="names", id="names-1", name="a display name")
    run_id, display = run.id, run.name
    run.finish()

    (stored,) = read_offline_runs(wandb_dir)
    assert (stored.id, stored.name) == (run_id, display) == ("names-1", "a display name")
    # The old spelling still answers, with a deprecation warning naming the new one.
    with pytest.warns(DeprecationWarning, match=r"OfflineRun\.id"):
        assert stored.run_id == "names-1"
