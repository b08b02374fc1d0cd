"""Keep offline runs, checkpoints and sweeps in the Flyte run's storage past the pod; a failed upload only warns."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import threading
from collections.abc import Callable
from typing import Any, NamedTuple
from urllib.parse import urlparse

from . import _notices
from ._offline import has_transaction_log, read_offline_run, wait_until_written

logger = logging.getLogger("flyteplugins.wandb")

STORE_DIR = "wandb-offline"
STORE_ENV = "FLYTEPLUGINS_WANDB_STORE"
CHECKPOINT_DIR = "checkpoints"
SWEEP_DIR = "sweeps"
# Seconds one upload may take: a store that does not answer would hold the task for the client's whole retry budget.
UPLOAD_TIMEOUT = 30.0
# On SIGTERM, what Kubernetes' default 30 s grace period leaves after finishing the runs (_preempt.PREEMPT_TIMEOUT).
PREEMPT_UPLOAD_TIMEOUT = 15.0
FLUSH_WAIT = 5.0  # seconds to wait for wandb's service to write the finished run's last records
DEFAULT_TIMEOUT = 600.0  # seconds one call to W&B in `flyte wandb sync` (a folder's upload, a query) may take

_warned = False
_warn_lock = threading.Lock()
_where: dict[str, Location] = {}  # run folder -> where it goes, noted at open: a SIGTERM handler cannot tell the action


def store_root(raw_data_path: str) -> str:
    """The storage root offline runs are kept under, for an action whose raw-data path is given."""
    if override := os.environ.get(STORE_ENV, "").strip():
        return override.rstrip("/")
    parsed = urlparse(raw_data_path)
    if parsed.scheme and parsed.scheme != "file" and parsed.netloc:
        return f"{parsed.scheme}://{parsed.netloc}"
    return raw_data_path.rstrip("/")


def run_prefix(root: str, run_name: str) -> str:
    return f"{root.rstrip('/')}/{STORE_DIR}/{run_name}"


class Location(NamedTuple):
    root: str
    run_name: str
    action: str
    attempt: int

    @property
    def action_prefix(self) -> str:
        return f"{run_prefix(self.root, self.run_name)}/{self.action}"

    @property
    def prefix(self) -> str:
        return f"{self.action_prefix}/{self.attempt}"

    @property
    def checkpoints(self) -> str:
        return f"{self.action_prefix}/{CHECKPOINT_DIR}"

    @property
    def sync_command(self) -> str:
        return f"flyte wandb sync {self.run_name} --store {self.root}"  # the user's shell lacks the pod's env


def location() -> Location | None:  # the calling action's location; None outside a task and in Flyte's local mode
    try:
        import flyte

        ctx = flyte.ctx()
    except Exception:
        return None
    if not ctx or getattr(ctx, "mode", "local") == "local":
        return None
    raw = getattr(getattr(ctx, "raw_data_path", None), "path", "") or ""
    action = getattr(ctx, "action", None)
    run_name = getattr(action, "run_name", "") or ""
    if not (raw or os.environ.get(STORE_ENV)) or not run_name:
        return None
    attempt = int(getattr(ctx, "attempt_number", 0) or 0)
    return Location(store_root(raw), run_name, str(getattr(action, "name", "")), attempt)


def remember(run_dir: str) -> None:
    """Note where the offline run in ``run_dir`` will be kept (call when it opens, in the task)."""
    if (loc := location()) is not None:
        _where[run_dir] = loc


def brief(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."


def _in_thread(coro_fn: Callable[[], Any], timeout: float, failure: str, after: str = "", always: bool = False) -> bool:
    """``coro_fn()`` in a thread and loop of its own (an async task body, a signal handler): at most ``timeout`` s."""
    global _warned
    box: dict[str, BaseException] = {}

    def target() -> None:
        try:
            asyncio.run(coro_fn())
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="flyteplugins-wandb-persist", daemon=True)
    thread.start()
    thread.join(timeout)
    error = TimeoutError(f"no answer within {timeout:.0f}s") if thread.is_alive() else box.get("error")
    if error is None:
        return True
    reason = brief(str(error).split("Debug source:", 1)[0])  # object-store clients append a whole request dump
    message = f"could not {failure}: {type(error).__name__}: {reason}{after}"
    with _warn_lock:
        first, _warned = not _warned, True
    if first or always:
        _notices.notice(message)
    else:
        logger.debug("wandb: %s", message)
    return False


async def _put_dir(local: str, remote: str) -> None:
    import flyte.storage as storage
    from fsspec.implementations.local import LocalFileSystem

    fs = storage.get_underlying_filesystem(path=remote)
    # fsspec's local file system copies a folder *into* an existing target: a step saved again replaces its copy.
    if isinstance(fs, LocalFileSystem) and fs.exists(remote):
        fs.rm(remote, recursive=True)
    await storage.put(local, remote, recursive=True)


async def _put_json(data: dict[str, Any], remote: str) -> None:
    import flyte.storage as storage

    await storage.put_stream(json.dumps(data).encode(), to_path=remote)


def persist_run(
    run_id: str, run_dir: str, *, sync_id: str | None = None, online_dir: bool = False, timeout: float = UPLOAD_TIMEOUT
) -> str | None:
    """Upload a finished offline run folder to the store; returns where it went, or None (nothing to do, or it
    failed: one warning line). ``sync_id``: for ``wandb sync --id``; ``online_dir``: W&B never confirmed it."""
    loc = _where.pop(run_dir, None) or location()
    if loc is None or not has_transaction_log(run_dir):
        return None  # no run file left (deleted while open: the caller says so): nothing to keep
    # run.finish() returns before wandb's service flushed the log (wandb 0.31: 7 bytes, complete ~0.1 s later).
    wait_until_written(run_dir, min(FLUSH_WAIT, timeout / 3))
    read: Any = None
    with contextlib.suppress(Exception):  # a half-written record
        read = read_offline_run(run_dir)
    dest = f"{loc.prefix}/{os.path.basename(run_dir.rstrip('/'))}"
    meta = {"run_id": run_id, "sync_id": sync_id or "", "online": online_dir, "attempt": loc.attempt}
    # Sync finds an offline sweep's trials by their group (the sweep id) and publishes them together.
    meta.update(group=getattr(read, "group", "") or "", project=getattr(read, "project", "") or "")

    async def upload() -> None:
        await _put_dir(run_dir, dest)
        await _put_json(meta, f"{dest}.json")  # last: the folder is complete

    after = f"; its files stay in {run_dir} and are lost with the pod."
    # Always said, even after an earlier warning (a checkpoint's): where the run is, or that it is lost.
    if not _in_thread(upload, timeout, f"keep offline run {run_id!r} in Flyte storage ({dest})", after, always=True):
        return None
    _notices.notice(f"offline run {run_id!r} kept in {dest}; upload it to W&B with: {loc.sync_command}")
    return dest


def persist_sweep(sweep_id: str, definition: dict[str, Any]) -> str | None:
    """Keep an offline sweep's ``definition`` (``config``, ``project``, ``entity``) for ``flyte wandb sync``."""
    if (loc := location()) is None:
        return None
    dest = f"{loc.action_prefix}/{SWEEP_DIR}/{sweep_id}.json"
    failure = f"keep offline sweep {sweep_id!r} in Flyte storage ({dest})"
    after = "; its synced trials will not be grouped into a W&B sweep."
    ok = _in_thread(lambda: _put_json({"sweep_id": sweep_id, **definition}, dest), UPLOAD_TIMEOUT, failure, after)
    return dest if ok else None


def _checkpoint_base(name: str, run_id: str, after_warning: bool = False) -> str | None:
    loc = location()
    if loc is None or (_warned and not after_warning):  # after a failure: saved often, each would wait again
        return None
    return f"{loc.checkpoints}/{run_id}/{name}"


def persist_checkpoint(local_dir: str, name: str, step: int, run_id: str) -> str | None:
    if (base := _checkpoint_base(name, run_id)) is None:
        return None
    dest = f"{base}/step-{step}"
    failure = f"keep offline checkpoint {name!r} (step {step}) in Flyte storage ({dest})"
    after = "; a retry on another pod cannot restore it."
    return dest if _in_thread(lambda: _put_dir(local_dir, dest), UPLOAD_TIMEOUT, failure, after) else None


def forget_checkpoints(name: str, run_id: str, steps: list[int]) -> None:
    """Delete the stored copies of the checkpoint steps retention removed locally (not an earlier attempt's)."""
    if (base := _checkpoint_base(name, run_id)) is None or not steps:
        return

    async def remove() -> None:
        import flyte.storage as storage

        fs = storage.get_underlying_filesystem(path=base)
        for step in steps:
            with contextlib.suppress(FileNotFoundError):  # never uploaded (that upload warned)
                fs.rm(f"{base}/step-{step}", recursive=True)

    failure = f"remove pruned offline checkpoints {name!r} (steps {steps}) from Flyte storage ({base})"
    _in_thread(remove, UPLOAD_TIMEOUT, failure)


def fetch_checkpoint(name: str, run_id: str, local_root: str) -> str | None:
    """Download the highest stored ``step-<N>`` of an offline checkpoint into ``local_root``; returns it, or None."""
    if (base := _checkpoint_base(name, run_id, after_warning=True)) is None:
        return None
    found: dict[str, str] = {}

    async def fetch() -> None:
        import flyte.storage as storage

        fs = storage.get_underlying_filesystem(path=base)
        leaves: list[str] = []
        with contextlib.suppress(FileNotFoundError):  # nothing stored yet
            leaves = [str(e).rstrip("/").rsplit("/", 1)[-1] for e in fs.ls(base, detail=False)]
        steps = [int(leaf[5:]) for leaf in leaves if leaf.startswith("step-") and leaf[5:].isdigit()]
        for step in sorted(steps, reverse=True):
            local = os.path.join(local_root, name, f"step-{step}")
            shutil.rmtree(local, ignore_errors=True)  # a fresh folder (see _put_dir): one here was cut short
            os.makedirs(os.path.dirname(local), exist_ok=True)
            await storage.get(f"{base}/step-{step}", local, recursive=True)
            if os.path.exists(os.path.join(local, "checkpoint.json")):
                found["path"] = local
                return  # an upload cut short has no index: try the step before

    ok = _in_thread(fetch, UPLOAD_TIMEOUT, f"read offline checkpoints from Flyte storage ({base})")
    return found.get("path") if ok else None
