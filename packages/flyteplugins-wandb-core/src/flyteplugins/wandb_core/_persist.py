"""Offline runs kept in the Flyte run's storage, so that they outlive the pod that wrote them.

On a cluster an offline run folder (no key, ``mode="offline"``, a fail-open fallback, an offline
sweep trial) lives on the pod's disk and is lost with the pod. When such a run finishes (also on
failure, and on SIGTERM within the grace period), its folder is uploaded with Flyte's own storage
layer, so any backend the cluster is configured for works, to::

    <store root>/wandb-offline/<flyte run>/<action>/<attempt>/<offline-run folder>/
    <store root>/wandb-offline/<flyte run>/<action>/<attempt>/<offline-run folder>.json

``<store root>`` is the bucket of the action's raw-data path (``s3://bucket``, ``gs://bucket``,
``abfs://container@account...``), or the environment variable ``FLYTEPLUGINS_WANDB_STORE`` where set
(also read by ``flyte wandb sync``; a mounted file system needs it, as its raw-data paths have no
bucket). Every attempt writes under its own number: a retry never overwrites an earlier attempt.
The ``.json`` file beside each folder (written last) names the W&B run id and the ``--id`` that
``wandb sync`` needs for a fail-open copy.

Offline checkpoints go to ``<store root>/wandb-offline/<flyte run>/<action>/checkpoints/`` (shared by
the action's attempts), so that a retry on a fresh pod restores the last one.

An offline sweep's definition goes to ``<store root>/wandb-offline/<flyte run>/<action>/sweeps/<sweep
id>.json`` (the sweep task's action), so that ``flyte wandb sync`` publishes its trial runs (the
runs whose group is the sweep id) as one W&B sweep.

Nothing happens in Flyte's local mode (the folder stays where the user sees it) nor outside a task,
and nothing is read in the online case. A failed upload prints one warning line and never fails
the task.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from . import _notices

logger = logging.getLogger("flyteplugins.wandb")

__all__ = ["STORE_DIR", "STORE_ENV", "Location", "location", "persist_run", "remember", "store_root"]

STORE_DIR = "wandb-offline"
STORE_ENV = "FLYTEPLUGINS_WANDB_STORE"
CHECKPOINT_DIR = "checkpoints"
SWEEP_DIR = "sweeps"
# Seconds one upload may take before the task goes on without it (a store that does not answer
# would otherwise hold the task for the storage client's whole retry budget).
UPLOAD_TIMEOUT = 30.0
# On SIGTERM the runs are finished first (up to _preempt.PREEMPT_TIMEOUT); this is what is left of
# Kubernetes' default 30 s grace period for the upload.
PREEMPT_UPLOAD_TIMEOUT = 15.0
# Seconds to wait for wandb's service to write the finished run's last records to disk.
FLUSH_WAIT = 5.0

_warned = False
_warn_lock = threading.Lock()
# run folder -> where it goes, taken when the run opens: the SIGTERM handler runs on the main
# thread, outside the task's context, where `flyte.ctx()` no longer says which action it was.
_where: dict[str, Location] = {}


def store_root(raw_data_path: str) -> str:
    """The storage root offline runs are kept under, for an action whose raw-data path is given."""
    override = os.environ.get(STORE_ENV, "").strip()
    if override:
        return override.rstrip("/")
    parsed = urlparse(raw_data_path)
    if parsed.scheme and parsed.scheme != "file" and parsed.netloc:
        return f"{parsed.scheme}://{parsed.netloc}"
    return raw_data_path.rstrip("/")


def run_prefix(root: str, run_name: str) -> str:
    """Where every offline run of the Flyte run ``run_name`` is kept."""
    return f"{root.rstrip('/')}/{STORE_DIR}/{run_name}"


@dataclass(frozen=True)
class Location:
    """The calling action's place in the store."""

    root: str
    run_name: str
    action: str
    attempt: int

    @property
    def prefix(self) -> str:
        """This attempt's folder: its offline runs go right under it."""
        return f"{run_prefix(self.root, self.run_name)}/{self.action}/{self.attempt}"

    @property
    def checkpoints(self) -> str:
        """The action's offline checkpoints, shared by its attempts."""
        return f"{run_prefix(self.root, self.run_name)}/{self.action}/{CHECKPOINT_DIR}"

    @property
    def sync_command(self) -> str:
        """The command that uploads this Flyte run's kept offline runs, ready to paste anywhere."""
        # --store spelled out: where the user syncs, neither the pod's raw-data path nor its
        # FLYTEPLUGINS_WANDB_STORE is known, and the command refuses to guess.
        return f"flyte wandb sync {self.run_name} --store {self.root}"

    @property
    def sweeps(self) -> str:
        """The offline sweep definitions the action created."""
        return f"{run_prefix(self.root, self.run_name)}/{self.action}/{SWEEP_DIR}"


def location() -> Location | None:
    """The calling action's location, or None outside a task and in Flyte's local mode."""
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
    loc = location()
    if loc is not None:
        _where[run_dir] = loc


def _warn_once(message: str) -> None:
    global _warned
    with _warn_lock:
        if _warned:
            logger.debug("wandb: %s", message)
            return
        _warned = True
    _notices.notice(message)


def _in_thread(coro_fn: Any, timeout: float) -> None:
    """Run ``coro_fn()`` on a loop of its own in a daemon thread; raise its error, or TimeoutError.

    The callers may run inside the task's event loop (an async task body) or in a signal handler:
    a thread of its own works from both, and ``timeout`` bounds the wait.
    """
    box: dict[str, BaseException] = {}

    def target() -> None:
        try:
            asyncio.run(coro_fn())
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="flyteplugins-wandb-persist", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"no answer within {timeout:.0f}s")
    if "error" in box:
        raise box["error"]


async def _put_dir(local: str, remote: str) -> None:
    import flyte.storage as storage

    await storage.put(local, remote, recursive=True)


async def _put_json(data: dict[str, Any], remote: str) -> None:
    import flyte.storage as storage

    fd, tmp = tempfile.mkstemp(suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
        await storage.put(tmp, remote)
    finally:
        os.unlink(tmp)


def _wait_for_exit_record(run_dir: str, timeout: float) -> Any:
    """Wait (at most ``timeout`` s) until the run's transaction log holds its exit record on disk.

    Returns the run as read last (an `OfflineRun`, None when nothing could be read).

    ``run.finish()`` returns before wandb's service has flushed the log (observed with wandb 0.31:
    7 bytes right after finish, complete ~0.1 s later); uploading then would keep an empty run.
    """
    from ._offline import read_offline_run

    deadline = time.monotonic() + timeout
    size = -1
    run = None
    while time.monotonic() < deadline:
        logs = glob.glob(os.path.join(glob.escape(run_dir), "run-*.wandb"))
        now = os.path.getsize(logs[0]) if logs else -1
        if now != size:  # parse again only when something was written
            size = now
            try:
                run = read_offline_run(logs[0]) if logs else None
                if run is not None and run.finished:
                    return run
            except Exception:  # a half-written record: look again
                pass
        time.sleep(0.05)
    return run


def persist_run(
    run_id: str,
    run_dir: str,
    *,
    sync_id: str | None = None,
    online_dir: bool = False,
    timeout: float = UPLOAD_TIMEOUT,
) -> str | None:
    """Upload a finished offline run folder to the store; returns where it went, or None.

    None where there is nothing to do (local mode, outside a task) or the upload failed (one warning
    line per process; the task goes on).

    Args:
        run_id: The W&B run id (for the messages and the ``.json`` file).
        run_dir: The run folder (``.../wandb/offline-run-<time>-<id>``).
        sync_id: The id ``wandb sync --id`` must file the folder under (a fail-open copy).
        online_dir: The folder is an online run's whose upload W&B never confirmed.
        timeout: Seconds the upload may take.
    """
    from ._offline import has_transaction_log

    loc = _where.pop(run_dir, None) or location()
    if loc is None or not has_transaction_log(run_dir):
        return None  # no run file left (deleted while open: the caller says so): nothing to keep
    read = _wait_for_exit_record(run_dir, min(FLUSH_WAIT, timeout / 3))
    folder = os.path.basename(run_dir.rstrip("/"))
    dest = f"{loc.prefix}/{folder}"
    meta = {"run_id": run_id, "sync_id": sync_id or "", "online": online_dir, "attempt": loc.attempt}
    # Sync finds an offline sweep's trials by their group (the sweep id) and publishes them together.
    meta.update(group=getattr(read, "group", "") or "", project=getattr(read, "project", "") or "")
    try:

        async def upload() -> None:
            await _put_dir(run_dir, dest)
            await _put_json(meta, f"{dest}.json")  # last: the folder is complete

        _in_thread(upload, timeout)
    except Exception as exc:
        _warn_once(
            f"could not keep offline run {run_id!r} in Flyte storage ({dest}): "
            f"{type(exc).__name__}: {exc}; its files stay in {run_dir} and are lost with the pod."
        )
        return None
    _notices.notice(f"offline run {run_id!r} kept in {dest}; upload it to W&B with: {loc.sync_command}")
    return dest


def persist_sweep(sweep_id: str, definition: dict[str, Any]) -> str | None:
    """Keep an offline sweep's definition beside its trial runs; returns where it went, or None.

    ``definition`` holds ``config`` (the W&B sweep configuration), ``project`` and ``entity``;
    ``flyte wandb sync`` creates the W&B sweep from it, with the synced trial runs as its runs.
    None in local mode, outside a task, or when the upload failed (one warning line per process).
    """
    loc = location()
    if loc is None:
        return None
    dest = f"{loc.sweeps}/{sweep_id}.json"
    try:
        _in_thread(lambda: _put_json({"sweep_id": sweep_id, **definition}, dest), UPLOAD_TIMEOUT)
    except Exception as exc:
        _warn_once(
            f"could not keep offline sweep {sweep_id!r} in Flyte storage ({dest}): "
            f"{type(exc).__name__}: {exc}; its synced trials will not be grouped into a W&B sweep."
        )
        return None
    return dest


def persist_checkpoint(local_dir: str, name: str, step: int, run_id: str) -> str | None:
    """Upload one offline checkpoint folder (``step-<N>`` with its index); returns where, or None."""
    loc = location()
    if loc is None or _warned:
        # After a failed upload, checkpoints (saved often, each waiting up to UPLOAD_TIMEOUT) are not
        # tried again in this process; the run folder still is, when the run finishes.
        return None
    dest = f"{loc.checkpoints}/{run_id}/{name}/step-{step}"
    try:
        _in_thread(lambda: _put_dir(local_dir, dest), UPLOAD_TIMEOUT)
    except Exception as exc:
        _warn_once(
            f"could not keep offline checkpoint {name!r} (step {step}) in Flyte storage ({dest}): "
            f"{type(exc).__name__}: {exc}; a retry on another pod cannot restore it."
        )
        return None
    return dest


def forget_checkpoints(name: str, run_id: str, steps: list[int]) -> None:
    """Delete the stored copies of the offline checkpoint steps that retention removed locally.

    Mirrors ``keep_last``/``keep_best`` on the pod's disk: only steps this pod decided to drop go,
    so a copy an earlier attempt kept and this one never saw locally stays. One warning line on
    failure (a copy left behind costs storage, never the task).
    """
    loc = location()
    if loc is None or not steps or _warned:
        return
    base = f"{loc.checkpoints}/{run_id}/{name}"

    async def remove() -> None:
        import flyte.storage as storage

        fs = storage.get_underlying_filesystem(path=base)
        for step in steps:
            with contextlib.suppress(FileNotFoundError):  # never uploaded (that upload warned)
                fs.rm(f"{base}/step-{step}", recursive=True)

    try:
        _in_thread(remove, UPLOAD_TIMEOUT)
    except Exception as exc:
        _warn_once(
            f"could not remove pruned offline checkpoints {name!r} (steps {steps}) from Flyte storage "
            f"({base}): {type(exc).__name__}: {exc}"
        )


def fetch_checkpoint(name: str, run_id: str, local_root: str) -> str | None:
    """Download the highest stored ``step-<N>`` of an offline checkpoint into ``local_root``.

    Returns the local ``step-<N>`` folder, or None when nothing is stored (or the store is out of
    reach: the caller then starts from scratch, as it would have before).
    """
    loc = location()
    if loc is None:
        return None
    base = f"{loc.checkpoints}/{run_id}/{name}"

    found: dict[str, str] = {}

    async def fetch() -> None:
        import flyte.storage as storage

        fs = storage.get_underlying_filesystem(path=base)
        try:
            entries = fs.ls(base, detail=False)
        except FileNotFoundError:
            return
        steps = []
        for entry in entries:
            leaf = str(entry).rstrip("/").rsplit("/", 1)[-1]
            if leaf.startswith("step-") and leaf[5:].isdigit():
                steps.append(int(leaf[5:]))
        for step in sorted(steps, reverse=True):
            remote = f"{base}/step-{step}"
            local = os.path.join(local_root, name, f"step-{step}")
            os.makedirs(local, exist_ok=True)
            await storage.get(remote, local, recursive=True)
            if os.path.exists(os.path.join(local, "checkpoint.json")):
                found["path"] = local
                return  # an upload cut short has no index: try the step before

    try:
        _in_thread(fetch, UPLOAD_TIMEOUT)
    except Exception as exc:
        _warn_once(
            f"could not read offline checkpoints from Flyte storage ({base}): {type(exc).__name__}: {exc}"
        )
        return None
    return found.get("path")
