"""``download_logs=True``: the sweep's trial files as a ``flyte.io.Dir`` trace output."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import flyte
import flyte.io

from ._state import SweepState


@flyte.trace
async def collect_offline_sweep_dirs(sweep_id: str, run_dirs: list[str]) -> flyte.io.Dir:
    """Copy the offline run directories of a sweep's trials into one ``Dir`` (``wandb sync`` each one)."""
    target = Path(tempfile.mkdtemp(prefix=f"wandb-sweep-{sweep_id}-"))
    remote: dict[str, list[str]] = {}
    for run_dir in sorted(set(run_dirs)):
        src = Path(run_dir)
        if src.is_dir():
            shutil.copytree(src, target / src.name, dirs_exist_ok=True)
        elif "://" in run_dir:
            # Uploaded by an agent that ran in another pod: <dir uri>/<offline-run-...>.
            parent, _, name = run_dir.rstrip("/").rpartition("/")
            remote.setdefault(parent, []).append(name)
    for parent, names in remote.items():
        fetched = Path(await flyte.io.Dir.from_existing_remote(parent).download(tempfile.mkdtemp()))
        for name in names:
            if (fetched / name).is_dir():
                shutil.copytree(fetched / name, target / name, dirs_exist_ok=True)
    return await flyte.io.Dir.from_local(target)


async def collect_sweep_logs(state: SweepState, run_dirs: list[str] | None = None) -> Any:
    """Online: every trial's files from W&B; offline: the run directories (``run_dirs``, from the
    launcher; without them, at the end of the sweep task, only if no launcher collected them)."""
    with state.lock:
        if run_dirs is None and state.logs_collected:
            return None
        state.logs_collected = True
        dirs = list(state.run_dirs if run_dirs is None else run_dirs)
    if state.mode == "online":
        from flyteplugins.wandb_core import download_wandb_sweep_logs

        return await download_wandb_sweep_logs(state.sweep_id, state.project, state.entity, state.host)
    return await collect_offline_sweep_dirs(state.sweep_id, dirs)
