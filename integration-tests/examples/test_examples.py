"""The examples users run first: each runs as a script, offline, and leaves the runs it promises."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from flyteplugins.wandb.testing import runs_by_id

ROOT = Path(__file__).resolve().parents[2]


def _run_example(name: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_") or k == "WANDB_DIR"}
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / name)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_quickstart_runs_offline_and_writes_every_run_mode(isolated_wandb: Path) -> None:
    proc = _run_example("quickstart.py", isolated_wandb)
    assert proc.returncode == 0, proc.stderr[-3000:]
    by_id = runs_by_id(isolated_wandb / "wandb")
    # the pipeline's run (auto + shared children log into it) and three `new` training runs
    assert len(by_id) == 4
    [pipeline] = [parts[0] for parts in by_id.values() if parts[0].metric("eval/accuracy")]
    assert len(pipeline.metric("eval/accuracy")) == 3
    assert pipeline.summary["best_loss"] == min(p[0].metric("loss")[-1] for p in by_id.values() if p[0].metric("loss"))
    assert pipeline.project == "flyte-wandb-quickstart" and pipeline.tags == ["quickstart"]
    assert all(parts[0].exit_code == 0 for parts in by_id.values())
    # One whole line at the end uploads all four runs (no per-run lines, no lines merged together).
    notices = [line for line in proc.stderr.splitlines() if "saved offline" in line and "wandb sync" in line]
    assert len(notices) == 1 and notices[0].startswith("wandb: 4 runs saved offline"), notices
    assert all(str(parts[0].path.parent) in notices[0] for parts in by_id.values())
