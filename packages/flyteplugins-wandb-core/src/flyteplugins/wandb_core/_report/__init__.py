"""A ``report=True`` task's "Weights & Biases" tab (docs/report.md); an error building it only warns."""

from __future__ import annotations

import contextlib
import os
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

import flyte.report

from .. import _compat, _persist
from .._offline import read_offline_run, wait_until_written
from .._resolve import ui_host
from .._scope import FLYTE_CONFIG_KEY
from .._state import world_size
from ._render import ArtifactView, RunView, TrialRecord, page, render_runs, render_sweep, series_from_history

TAB_NAME = "Weights & Biases"
MAX_LOG_BYTES = 128 * 1024 * 1024  # a larger run log is not parsed: the tab shows the live summary only
LOG_WAIT_S = 10.0  # for wandb's writer to put a finished run's last records on disk
ARTIFACT_WAIT_S = 60  # for an online artifact's commit, to learn its version (finish waits anyway)

# The run's view, its log file, whether the scope owns it: read while the run is open (unusable after finish).
Capture = tuple[RunView, str | None, bool]
# Artifacts the helpers logged or used, per run, until its tab lists them; weak keys: no report, no leftovers.
_artifacts: weakref.WeakKeyDictionary[Any, list[tuple[Any, str]]] = weakref.WeakKeyDictionary()


def _warn(what: str, exc: BaseException) -> None:
    message = f"flyteplugins.wandb: could not build the '{TAB_NAME}' report tab ({what}): {type(exc).__name__}: {exc}."
    warnings.warn(message + " The task itself is not affected.", RuntimeWarning, stacklevel=3)


def publish(section: str, html: str, *, flush: bool = False) -> bool:
    """Put (or replace) ``section`` (``"sweep"``, ``"runs"``) of the current task's W&B tab; False outside a task."""
    report = getattr(flyte.ctx(), "report", None)
    if report is None:
        return False
    sections: dict[str, str] = report.__dict__.setdefault("_flyteplugins_wandb_sections", {})
    sections[section] = html
    report.get_tab(TAB_NAME).replace(page([sections[k] for k in ("sweep", "runs") if k in sections]))
    if flush:
        flyte.report.flush()
    return True


def report_sweep(
    trials: Sequence[Any],
    metric: str | None,
    *,
    maximize: bool,
    sweep_id: str | None = None,
    sweep_url: str | None = None,
    runs_url: str | None = None,
    flush: bool = False,
) -> bool:
    """Write the sweep section of the running ``report=True`` task's W&B tab; never raises.

    ``trials``: `TrialRecord` objects or mappings/objects with its fields, in launch order. ``maximize``:
    the best trial has the highest metric (else the lowest). ``runs_url`` (``{host}/{entity}/{project}``)
    links trials without a ``link``. ``flush=True`` writes the report file at once (Flyte flushes only
    after a task succeeds). Returns False outside a task or when building failed (a ``RuntimeWarning``).
    """
    try:
        records = [TrialRecord.coerce(t) for t in trials]
        for record in records:
            if not (metric and record.history is None and record.run_dir):
                continue
            with contextlib.suppress(Exception):  # a trial whose log cannot be read is drawn without its curve
                logs = sorted(Path(record.run_dir).glob("run-*.wandb"))
                if logs and logs[0].stat().st_size <= MAX_LOG_BYTES:
                    wait_until_written(record.run_dir, 2.0)
                    rows = [{"_step": r.get("_step"), "m": r.get(metric)} for r in read_offline_run(logs[0]).history]
                    record.history = series_from_history(rows, max_metrics=1)[0].get("m", [])
        html = render_sweep(
            records, metric, maximize=maximize, sweep_id=sweep_id, sweep_url=sweep_url, runs_url=runs_url
        )
        return publish("sweep", html, flush=flush)
    except Exception as exc:
        _warn("sweep", exc)
        return False


def note_artifact(run: Any, artifact: Any, use: str) -> None:  # kept for the run's report tab; never raises
    with contextlib.suppress(TypeError):  # a run stand-in that cannot be weakly referenced has no tab either
        _artifacts.setdefault(run, []).append((artifact, use))


def _artifact_view(artifact: Any, use: Any, offline: bool, host: str) -> ArtifactView:
    view = ArtifactView(name=str(artifact.name).split(":")[0], type=str(artifact.type), use=use)
    if not offline:
        with contextlib.suppress(Exception):  # not committed in time: the tab still names it
            if use == "logged":
                artifact.wait(timeout=ARTIFACT_WAIT_S)
            view.version = str(artifact.version)
            # W&B's own artifact page path; built here because ``artifact.url`` asks the server again.
            path = f"{artifact.entity}/{artifact.project}/artifacts/{quote(view.type)}/{quote(view.name)}"
            view.url = f"{host}/{path}/{view.version}"
    return view


class Collector(NamedTuple):  # a reporting task's tab also shows the runs of functions called in its body
    action: str | None
    views: list[RunView]


def _action_name() -> str | None:
    ctx = flyte.ctx()
    # @flyte.trace swaps `action` for its own; `task_action` stays the running task's.
    return str((getattr(ctx, "task_action", None) or ctx.action).name) if ctx else None


def on_open(scope: Any) -> None:  # mark a report=True task's scope as collecting runs for its tab; never raises
    try:
        if scope.active is not None and scope.in_task:
            scope.active.report = Collector(_action_name(), [])
    except Exception as exc:
        _warn("preparing the tab", exc)


def _get(read: Callable[[], Any], default: Any = None) -> Any:  # default where a stand-in or finished run fails
    try:
        return read()
    except Exception:
        return default


def _role(scope: Any, active: Any, owner: bool) -> str | None:  # why a report shows the scope's run (None: none)
    if not scope.is_task:
        # A function's own run (run_mode="new") is listed in its task's tab; one logging into the task's run is not.
        # A local-mode child task sees its parent's scope as enclosing (copied contextvars): only the same action is.
        collector = getattr(scope.enclosing, "report", None)
        shown = owner and collector is not None and collector.action == _action_name()
        return "run of a @wandb_init function called in this task" if shown else None
    if active.report is None:
        return None
    if not owner:
        return "shared with an ancestor task (still open)"
    world = world_size()
    return f"this task's run (rank {os.environ.get('RANK', '?')} of {world})" if world > 1 else "this task's run"


def before_finish(scope: Any) -> Capture | None:  # a snapshot of the run if a report will show it; never raises
    try:
        active = scope.active
        run = getattr(active, "run", None)
        owner = getattr(active, "owner", False)
        if run is None or not scope.in_task or (role := _role(scope, active, owner)) is None:
            return None
        offline = active.offline or _get(lambda: getattr(run, "offline", False) or _compat.settings_offline(run), False)
        run_dir = _get(lambda: os.path.dirname(str(run.dir)))
        where = _persist.location() if offline and run_dir else None
        host = ui_host(getattr(active.plan, "host", None), os.environ.get("WANDB_BASE_URL"))
        names: dict[str, Any] = {k: str(getattr(run, k, "") or "") for k in ("name", "project", "entity", "group")}
        url = None if offline else _get(lambda: run.url)
        if not url and names["entity"] and names["project"]:  # an offline run's entity is only known once it is synced
            url = f"{host}/{names['entity']}/{names['project']}/runs/{run.id}"
        view = RunView(
            run_id=str(active.run_id or run.id),
            **names,
            state="running",
            offline=offline,
            url=str(url) if url else None,
            role=role,
            config=_shown_config(_get(lambda: dict(run.config.as_dict()), {})),
            summary=_get(lambda: dict(run.summary), {}),
            sync_dir=run_dir,
            stored=f"{where.prefix}/{os.path.basename(run_dir)}" if where is not None else None,
            sync_hint=where.sync_command if where is not None else None,
            artifacts=[_artifact_view(a, use, offline, host) for a, use in _artifacts.pop(run, [])],
        )
        return view, _get(lambda: str(run.settings.sync_file)), owner
    except Exception as exc:
        _warn("reading the run", exc)
        return None


def _fill_from_log(view: RunView, path: str | None, owner: bool) -> None:
    if not path or not os.path.isfile(path):
        return
    if os.path.getsize(path) > MAX_LOG_BYTES:
        view.notes.append("The run's log is too large to chart here; see the W&B UI.")
        return
    # The owner waits: run.finish() can return before wandb's writer put the last records on disk (seen: 452 of 500
    # rows). Still open in its owner: wandb writes 32 KB blocks, and no wait would tell when the last steps are on disk.
    complete = wait_until_written(os.path.dirname(path), LOG_WAIT_S) if owner else True
    logged = read_offline_run(path)
    if owner:  # the log's summary is the final one (it includes values set with run.summary[...])
        view.summary = {**view.summary, **logged.summary}
        view.state = "failed" if logged.exit_code else "finished"
    else:
        view.summary = {**logged.summary, **view.summary}
        view.notes.append(
            "This run is still open in the task that started it: the summary is current; the charts "
            "show the steps already written to disk, and the full charts are in that task's report."
        )
    view.series, view.dropped_metrics = series_from_history(logged.history)
    if not complete:
        view.notes.append("The run's log was still being written: the charts may miss the last steps.")
    if not view.config:
        view.config = _shown_config(logged.config)


def _shown_config(config: Mapping[str, Any]) -> dict[str, Any]:  # minus _wandb and a flyte block (Flyte shows it)
    return {k: v for k, v in config.items() if k != "_wandb" and not (k == FLYTE_CONFIG_KEY and isinstance(v, Mapping))}


def after_finish(scope: Any, capture: Capture | None, error: BaseException | None) -> None:
    """Complete the snapshot from the run's log and write (or hand up) the tab. Never raises."""
    try:
        views: list[RunView] = []
        if capture is not None:
            view, sync_file, owner = capture
            try:
                _fill_from_log(view, sync_file, owner)
            except Exception as exc:  # charts are lost, the rest of the tab is still useful
                _warn("reading the run's log", exc)
            if owner and error is not None:
                view.state = "failed"
                view.notes.append(f"The task failed: {type(error).__name__}: {error}"[:500])
            views.append(view)
        collector = getattr(scope.active if scope.is_task else scope.enclosing, "report", None)
        if collector is not None and not scope.is_task:
            collector.views.extend(views)
        elif collector is not None and views + collector.views:
            # Flyte writes the report only after the task succeeds: flush a failed task's tab ourselves.
            publish("runs", render_runs(views + collector.views), flush=error is not None)
    except Exception as exc:
        _warn("writing the tab", exc)
