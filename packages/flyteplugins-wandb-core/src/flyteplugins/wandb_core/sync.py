"""``flyte wandb sync``: upload a Flyte run's stored offline runs to W&B, each row once; publish its offline sweeps."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import flyte
import flyte.storage as storage
from rich.console import Console
from rich.progress import Progress

from ._notices import notice
from ._offline import _HEADER_LEN, _framed, _items, _records, read_offline_run
from ._persist import DEFAULT_TIMEOUT, STORE_DIR, STORE_ENV, SWEEP_DIR, brief, run_prefix, store_root

__all__ = ["StoredRun", "StoredSweep", "SyncReport", "list_stored_runs", "list_stored_sweeps", "sync_env"]
__all__ += ["sync_offline_runs", "sync_offline_runs_task"]

SYNCED_SUFFIX = ".synced"
SYNCING_SUFFIX = ".syncing"
PUBLISHED_SUFFIX = ".published"
META_SUFFIX = ".json"
# The keys of a W&B sweep configuration the server takes; the offline engines' own keys stay behind.
SWEEP_CONFIG_KEYS = ("name", "description", "method", "metric", "parameters", "early_terminate", "run_cap")
_WANDB_ERROR = "wandb: ERROR"  # how wandb's CLI prints a failure it does not turn into an exit code
DEFAULT_WORKERS = 4


@dataclass(frozen=True)
class StoredRun:
    """One offline run folder kept in the store."""

    uri: str  # the folder
    action: str
    attempt: int
    run_id: str  # the W&B run it belongs to
    sync_id: str = ""  # `wandb sync --id` for a fail-open copy
    online: bool = False  # an online run's folder whose upload W&B never confirmed
    synced: bool = False
    group: str = ""  # the W&B group (an offline sweep's id for its trials)
    project: str = ""

    @property
    def folder(self) -> str:
        return self.uri.rstrip("/").rsplit("/", 1)[-1]

    @property
    def target_id(self) -> str:
        return self.sync_id or self.run_id


@dataclass
class SyncReport:
    """What one sync did."""

    synced: list[StoredRun] = field(default_factory=list)
    skipped: list[StoredRun] = field(default_factory=list)  # synced before
    failed: dict[str, str] = field(default_factory=dict)  # folder URI -> why
    sweeps: dict[str, str] = field(default_factory=dict)  # offline sweep id -> W&B sweep id

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass(frozen=True)
class StoredSweep:
    """One offline sweep's definition kept in the store."""

    uri: str  # the ``<sweep id>.json`` file
    sweep_id: str  # the offline id: its trial runs' group
    published: bool = False


class _Target(NamedTuple):
    project: str | None
    entity: str | None
    timeout: float


def _resolve_root(store: str | None) -> str:
    if not (root := (store or os.environ.get(STORE_ENV, "")).strip()):
        raise ValueError(
            f"store: where the offline runs are kept is needed: pass the bucket of the Flyte run's raw "
            f"data (for example store='s3://my-flyte-bucket'), or set {STORE_ENV}."
        )
    return root.rstrip("/")


def _fs(uri: str) -> Any:
    return storage.get_underlying_filesystem(path=uri)


def _kept_files(run_name: str, store: str | None) -> tuple[str, Any, set[str]]:
    """``run_name``'s prefix in the store, its file system, and the files under it (relative to the prefix)."""
    if not isinstance(run_name, str) or not run_name.strip() or "/" in run_name:
        raise ValueError(f"run_name: a Flyte run name is needed (no '/'), got {run_name!r}")
    root = _resolve_root(store)
    prefix = run_prefix(root, run_name)
    try:
        fs = _fs(prefix)
    except ValueError as exc:  # fsspec: "Protocol not known: ..."
        raise ValueError(f"store: {root!r} is not a store Flyte can read ({exc})") from exc
    try:
        keys = [str(k) for k in fs.find(prefix)]
    except FileNotFoundError:
        keys = []
    except Exception as exc:
        # Object stores answer <Code>NoSuchBucket</Code><Message>... inside a whole request dump: keep those two.
        found = [re.search(f"<{tag}>(.*?)</{tag}>", str(exc)) for tag in ("Code", "Message")]
        why = ": ".join(m.group(1) for m in found if m) if found[0] else brief(str(exc).split("\n\n", 1)[0])
        raise OSError(
            f"store: could not read {prefix} ({type(exc).__name__}: {why}). Is the bucket right, and does "
            f"this machine have Flyte's storage credentials for it?"
        ) from exc
    bare = fs._strip_protocol(prefix).rstrip("/")
    return prefix, fs, {key[len(bare) :].lstrip("/") for key in keys}


def _stored_run(fs: Any, prefix: str, files: set[str], action: str, attempt: str, folder: str) -> StoredRun:
    here = f"{action}/{attempt}/{folder}"
    meta: dict[str, Any] = {}
    if f"{here}{META_SUFFIX}" in files:
        with contextlib.suppress(Exception):  # unreadable: the folder's name still says its run id
            meta = json.loads(fs.cat_file(f"{prefix}/{here}{META_SUFFIX}"))
    # offline-run-YYYYMMDD_HHMMSS-<id> / run-YYYYMMDD_HHMMSS-<id>: the id may itself contain dashes.
    folder_id = folder.split("-", 3 if folder.startswith("offline-") else 2)[-1]
    return StoredRun(
        uri=f"{prefix}/{here}",
        action=action,
        attempt=int(attempt),
        run_id=str(meta.get("run_id") or folder_id),
        sync_id=str(meta.get("sync_id") or ""),
        online=bool(meta.get("online", folder.startswith("run-"))),
        synced=f"{here}{SYNCED_SUFFIX}" in files,
        group=str(meta.get("group") or ""),
        project=str(meta.get("project") or ""),
    )


def list_stored_runs(run_name: str, *, store: str | None = None) -> list[StoredRun]:
    """Every offline run folder the Flyte run ``run_name`` kept, in sync order (``store``: as `sync_offline_runs`)."""
    prefix, fs, files = _kept_files(run_name, store)
    parts = [f.split("/") for f in files if f.count("/") >= 3]
    folders = {(p[0], p[1], p[2]) for p in parts if p[1].isdigit()}
    logs = {(p[0], p[1], p[2]) for p in parts if p[-1].endswith(".wandb")}  # a run folder holds run-<id>.wandb
    found = [_stored_run(fs, prefix, files, *f) for f in folders if f[2].endswith(".wandb") or f in logs]
    # Attempts in order, and within an attempt by the folder's start time (in its name).
    return sorted(found, key=lambda r: (r.attempt, r.folder.split("-", 2)[-1], r.action))


def list_stored_sweeps(run_name: str, *, store: str | None = None) -> list[StoredSweep]:
    """Every offline sweep definition the Flyte run ``run_name`` kept (arguments as `list_stored_runs`)."""
    prefix, _, files = _kept_files(run_name, store)
    kept = [
        f[: -len(META_SUFFIX)] for f in sorted(files) if f.split("/")[1:-1] == [SWEEP_DIR] and f.endswith(META_SUFFIX)
    ]
    return [
        StoredSweep(f"{prefix}/{k}{META_SUFFIX}", k.rsplit("/", 1)[1], f"{k}{PUBLISHED_SUFFIX}" in files) for k in kept
    ]


# Each in a process of its own: wandb.Api logs in process-wide, wandb.sweep also sets WANDB_PROJECT/WANDB_ENTITY.
_HISTORY_ROWS = """
import json, sys, wandb
spec = json.load(sys.stdin)
try:
    run = wandb.Api().run("/".join(p for p in (spec["entity"], spec["project"], spec["id"]) if p))
    print("rows:" + str(int(run.historyLineCount or 0)))
except wandb.errors.CommError as exc:
    if "could not find run" not in str(exc).lower():
        raise
    print("rows:0")  # not on W&B yet
"""
_PUBLISH = """
import json, sys, wandb
spec = json.load(sys.stdin)
sweep_id = wandb.sweep(sweep=spec["config"], entity=spec["entity"], project=spec["project"],
                       prior_runs=spec["prior_runs"])
print("sweep-id:" + str(sweep_id))  # a line of its own: wandb.sweep prints to stdout too
"""


def run_wandb(
    args: list[str], timeout: float, what: str, stdin: str = "", lines: int = 3, answer: str = "", **env: str
) -> tuple[str, str]:
    """Run a W&B command with ``env`` added; returns its stdout and stderr. TimeoutError after ``timeout`` s (wandb
    retries a silent server for very long); RuntimeError when it failed or printed no line starting ``answer``."""
    # A session of its own: the kill also reaches the wandb-core service the command started.
    pipe = subprocess.PIPE
    with subprocess.Popen(
        args, stdin=pipe, stdout=pipe, stderr=pipe, text=True, env={**os.environ, **env}, start_new_session=True
    ) as proc:
        try:
            out, err = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise TimeoutError(f"W&B did not answer within {timeout:g} s") from None
    if proc.returncode != 0 or (answer and not any(x.startswith(answer) for x in out.splitlines())):
        tail = (err or out).strip().splitlines()[-lines:]
        raise RuntimeError(f"{what} exited {proc.returncode}: {' | '.join(tail)}")
    return out, err


def ask_wandb(
    script: str, payload: dict[str, Any], key: str, what: str, timeout: float, lines: int = 3, **env: str
) -> str:  # run ``script`` in a Python process of its own, ``payload`` on stdin; what it printed after ``key:``
    out, _ = run_wandb([sys.executable, "-c", script], timeout, what, json.dumps(payload), lines, f"{key}:", **env)
    return [line for line in out.splitlines() if line.startswith(f"{key}:")][-1][len(key) + 1 :]


def history_rows_on_wandb(run_id: str, project: str, entity: str, timeout: float = DEFAULT_TIMEOUT) -> int:
    """How many history rows W&B holds for the run (0 when it does not exist); raises when unreachable."""
    payload = {"id": run_id, "project": project, "entity": entity}
    what = f"reading run {run_id!r} from W&B"
    return int(ask_wandb(_HISTORY_ROWS, payload, "rows", what, timeout, 2, WANDB_SILENT="true"))


def _drop_history(run_dir: str, leave_out: Callable[[int, Any], bool]) -> int:
    """Rewrite the run's log without the history rows where ``leave_out(row index, _step)``; returns how many."""
    [log] = Path(run_dir).glob("run-*.wandb")
    data = log.read_bytes()
    kept, rows, dropped = [], 0, 0
    for payload, rec in _records(data):
        if rec.WhichOneof("record_type") == "history":
            rows += 1
            if leave_out(rows - 1, _items(rec.history.item).get("_step")):
                dropped += 1
                continue
        kept.append(payload)
    log.write_bytes(_framed(iter(kept), data[:_HEADER_LEN]))
    return dropped


def drop_first_history_rows(run_dir: str, count: int) -> int:
    return _drop_history(run_dir, lambda index, _: index < count) if count > 0 else 0


def drop_history_from_step(run_dir: str, step: int) -> int:
    return _drop_history(run_dir, lambda _, s: isinstance(s, int) and s >= step)


def drop_history_to_step(run_dir: str, step: int) -> int:
    return _drop_history(run_dir, lambda _, s: isinstance(s, int) and s <= step)


def first_history_step(fs: Any, uri: str) -> int | None:
    """The ``_step`` of the first history row of the run folder stored at ``uri`` (None: no rows), read up to it."""
    if not (logs := sorted(str(k) for k in fs.find(uri) if str(k).endswith(".wandb"))):
        return None
    with fs.open(logs[0], "rb") as f:
        data = b""
        while chunk := f.read(max(64 * 1024, len(data))):  # doubling: each pass parses from the start
            data += chunk
            for _, rec in _records(data):  # complete records only: a cut one waits for more bytes
                if rec.WhichOneof("record_type") == "history":
                    step = _items(rec.history.item).get("_step")
                    return step if isinstance(step, int) else None
    return None


def read_marker(fs: Any, uri: str) -> int | None:
    """The W&B run's history rows before the folder's first upload (its ``.syncing`` marker), or None."""
    with contextlib.suppress(FileNotFoundError):
        return int(json.loads(fs.cat_file(uri))["history_before"])
    return None


def prepare_upload(
    fs: Any,
    uri: str,
    local_dir: str,
    *,
    run_id: str,
    first_part: bool,
    online: bool,
    project: str | None,
    entity: str | None,
    timeout: float = DEFAULT_TIMEOUT,
) -> int:
    """Leave out of the downloaded folder ``local_dir`` (stored at ``uri``) the history rows W&B already holds;
    returns how many. ``first_part``: no earlier part of this W&B run can be on W&B."""
    marker = f"{uri}{SYNCING_SUFFIX}"

    def rows_now() -> int:
        run = read_offline_run(local_dir)
        return history_rows_on_wandb(run_id, project or run.project, entity or run.entity, timeout)

    if (before := read_marker(fs, marker)) is None:
        before = 0 if first_part else rows_now()
        fs.pipe_file(marker, json.dumps({"history_before": before}).encode())
        if not (online and first_part):
            return 0  # nothing of this folder has been sent yet
    return drop_first_history_rows(local_dir, rows_now() - before)


def _publish_sweeps(run_name: str, store: str | None, report: SyncReport, target: _Target) -> None:
    sweeps = [s for s in list_stored_sweeps(run_name, store=store) if not s.published]
    runs = list_stored_runs(run_name, store=store) if sweeps else []  # with this sync's markers
    for sweep in sweeps:
        trials = [r for r in runs if r.group == sweep.sweep_id]
        if not trials or not all(r.synced for r in trials):
            continue  # a trial failed to sync (in report.failed): publish on the next sync
        try:
            fs = _fs(sweep.uri)
            spec = json.loads(fs.cat_file(sweep.uri))
            # Where the trials were synced to: the override, else the sweep's project, else the trials'.
            project = target.project or spec.get("project") or next((r.project for r in trials if r.project), None)
            payload = {
                "config": {k: v for k, v in dict(spec.get("config") or {}).items() if k in SWEEP_CONFIG_KEYS},
                "project": project,
                "entity": target.entity or spec.get("entity") or None,
                "prior_runs": sorted({r.target_id for r in trials}),
            }
            published = ask_wandb(_PUBLISH, payload, "sweep-id", "creating the W&B sweep", target.timeout)
            fs.pipe_file(sweep.uri[: -len(META_SUFFIX)] + PUBLISHED_SUFFIX, published.encode())
            report.sweeps[sweep.sweep_id] = published
        except Exception as exc:
            report.failed[sweep.uri] = f"{type(exc).__name__}: {exc}"


def _sync_one(run: StoredRun, first_part: bool, target: _Target, retry: StoredRun | None, floor: int | None) -> None:
    """Upload one stored folder; ``retry``: the action's next attempt; ``floor``: the last step an earlier sync sent."""
    with tempfile.TemporaryDirectory(prefix="flyte-wandb-sync-") as tmp:
        local = os.path.join(tmp, run.folder)  # not created: fsspec's local fs copies *into* an existing folder
        asyncio.run(storage.get(run.uri, local, recursive=True))
        os.makedirs(local, exist_ok=True)
        # A retry resuming from its checkpoint logs its steps again: drop them here, as an online resume rewinds.
        if retry and (resumed_at := first_history_step(_fs(retry.uri), retry.uri)):
            drop_history_from_step(local, resumed_at)
        # Steps an earlier sync already put on W&B cannot be rewound (wandb sync would renumber them): they go.
        if floor is not None and (first := first_history_step(_fs(local), local)) and first <= floor:
            drop_history_to_step(local, floor)
            notice(
                f"steps {first}-{floor} of run {run.target_id!r} were uploaded by an earlier sync, before this "
                f"attempt ({run.uri}) logged them again; W&B keeps the earlier values (sync once all attempts "
                "are kept to get the last attempt's)."
            )
        # A sync cut off in this folder's upload left its first rows on W&B: leave those out.
        prepare_upload(
            _fs(run.uri), run.uri, local, run_id=run.target_id, first_part=first_part, online=run.online,
            project=target.project, entity=target.entity, timeout=target.timeout,
        )  # fmt: skip
        cmd = [sys.executable, "-m", "wandb", "sync", "--include-synced", *(["--include-online"] if run.online else [])]
        for flag, value in (("--id", run.sync_id), ("--project", target.project), ("--entity", target.entity)):
            cmd += [flag, value] if value else []
        # wandb sync exits 0 when W&B refuses the upload (a wrong key: "wandb: ERROR ... 401"); silent if WANDB_SILENT.
        out, err = run_wandb([*cmd, local], target.timeout, "wandb sync", WANDB_SILENT="false")
        if errors := [line for line in (err + out).splitlines() if line.startswith(_WANDB_ERROR)]:
            # W&B may hold every row despite the error (a log cut mid-record by a full disk); a refused upload not.
            held, expected = 0, 0
            with contextlib.suppress(Exception):
                folder = read_offline_run(local)  # as uploaded: without the rows an earlier cut-off sync sent
                before = read_marker(_fs(run.uri), f"{run.uri}{SYNCING_SUFFIX}") or 0
                project, entity = target.project or folder.project, target.entity or folder.entity
                held = history_rows_on_wandb(run.target_id, project, entity, target.timeout)
                expected = before + len(folder.history)
            if not (held > 0 and held >= expected):
                raise RuntimeError(f"wandb sync reported: {errors[-1][len(_WANDB_ERROR) :].strip()}")
        # The last step uploaded: where a later part of the run, synced by a later sync, may go on.
        steps = [s for s in (row.get("_step") for row in read_offline_run(local).history) if isinstance(s, int)]
        marker = {"last_step": max(steps)} if steps else {}
        _fs(run.uri).pipe_file(f"{run.uri}{SYNCED_SUFFIX}", json.dumps(marker).encode())


def sync_offline_runs(
    run_name: str,
    *,
    store: str | None = None,
    workers: int = DEFAULT_WORKERS,
    progress: bool = True,
    project: str | None = None,
    entity: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> SyncReport:
    """Upload every offline run the Flyte run ``run_name`` kept in its storage to W&B, skipping folders synced
    before; W&B's address and key come from the environment as for ``wandb sync``.

    Args:
        store: The store root (``s3://bucket``); default ``FLYTEPLUGINS_WANDB_STORE``.
        workers: W&B runs uploaded at once (the parts of one run go one after the other).
        project: Override the W&B project of every synced run.
        entity: Override the W&B entity of every synced run.
        timeout: Seconds one folder's upload (or query to W&B) may take; past it the folder fails (retried next sync).

    Raises:
        ValueError: ``run_name``, ``store``, ``workers`` or ``timeout`` is not usable, or nothing is kept for it.
        OSError: The store could not be read (no such bucket, no credentials, unreachable).
    """
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"workers: a positive integer is needed, got {workers!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout: a positive number of seconds is needed, got {timeout!r}")
    runs = list_stored_runs(run_name, store=store)
    if not runs and not list_stored_sweeps(run_name, store=store):
        root, kept = _resolve_root(store), []  # refused: a typo in the run name must not read as "all done"
        with contextlib.suppress(Exception):
            kept = sorted(
                str(e).rstrip("/").rsplit("/", 1)[-1] for e in _fs(root).ls(f"{root}/{STORE_DIR}", detail=False)
            )
        hint = (
            f"Flyte runs with offline runs in this store: {', '.join(kept[:10])}."
            if kept
            else f"This store keeps no offline runs at all under {root}/{STORE_DIR}/: is it the bucket of "
            f"the Flyte run's raw data (--store, or {STORE_ENV})?"
        )
        raise ValueError(
            f"run_name: no offline runs of the Flyte run {run_name!r} are kept in {run_prefix(root, run_name)}/. {hint}"
        )
    report = SyncReport(skipped=[r for r in runs if r.synced])
    todo = [r for r in runs if not r.synced]
    by_target: dict[str, list[StoredRun]] = defaultdict(list)  # each W&B run's parts, in sync order
    for run in runs:
        by_target[run.target_id].append(run)
    target = _Target(project, entity, timeout)
    with Progress(console=Console(stderr=True), disable=not (progress and todo)) as bar:
        advance = partial(bar.advance, bar.add_task(f"syncing {run_name}", total=len(todo)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="flyte-wandb-sync") as pool:
            list(pool.map(partial(_sync_parts, report, target, advance), by_target.values()))
    _publish_sweeps(run_name, store, report, target)
    return report


def _sync_parts(report: SyncReport, target: _Target, advance: Callable[[int], None], parts: list[StoredRun]) -> None:
    """Sync one W&B run's parts not synced yet, in order (a worker thread); each change to ``report`` is atomic."""
    todo = [p for p in parts if not p.synced]
    floors: dict[str, int] = {}  # per action with attempts left: the last step its synced attempts sent
    for run in parts:
        if run.synced and any(p.action == run.action for p in todo):
            with contextlib.suppress(Exception):  # a marker of an earlier release says only "synced"
                step = int(json.loads(_fs(run.uri).cat_file(f"{run.uri}{SYNCED_SUFFIX}"))["last_step"])
                floors[run.action] = max(step, floors.get(run.action, step))
    for i, run in enumerate(todo):
        # Only a retry of the same action rewinds: other actions sharing the run log steps of their own.
        retry = next((p for p in todo[i + 1 :] if p.action == run.action and p.attempt > run.attempt), None)
        floor = None if any(p.action == run.action for p in todo[:i]) else floors.get(run.action)
        try:
            # The first part of a W&B run no online session began: W&B held nothing of it before.
            _sync_one(run, run is parts[0] and not run.sync_id, target, retry, floor)
        except Exception as exc:
            report.failed[run.uri] = f"{type(exc).__name__}: {exc}"
            # Later parts of the same run would land before this one: leave them for next time.
            report.failed.update({later.uri: f"waits for {run.folder}" for later in todo[i + 1 :]})
            advance(len(todo) - i)
            return
        report.synced.append(run)
        advance(1)


sync_env = flyte.TaskEnvironment(
    name="wandb-offline-sync", secrets=[flyte.Secret(key="wandb_api_key", as_env_var="WANDB_API_KEY")]
)


@sync_env.task
def sync_offline_runs_task(run_name: str, store: str = "") -> int:
    """Sync the Flyte run ``run_name``'s offline runs to W&B from the cluster; returns how many, raises on a failure."""
    if not store and not os.environ.get(STORE_ENV):  # in the cluster: where this task's own raw data goes
        raw = getattr(getattr(flyte.ctx(), "raw_data_path", None), "path", "")
        store = store_root(raw) if raw else ""
    report = sync_offline_runs(run_name, store=store or None, progress=False)
    if report.failed:
        lines = "; ".join(f"{uri}: {why}" for uri, why in report.failed.items())
        raise RuntimeError(f"{len(report.failed)} offline run folder(s) not synced: {lines}")
    return len(report.synced)
