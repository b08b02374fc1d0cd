"""One call of a tracked task or function: plan its run (with its Flyte identity), open, expose, finish it."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any

import flyte

from . import _concurrency, _extras, _state
from ._config import RUN_ENTITY_KEY, RUN_HOST_KEY, RUN_ID_KEY, RUN_OFFLINE_KEY, RUN_PROJECT_KEY, parse_context
from ._state import TRIAL_CONTEXT_KEY, TRIAL_HANDLE_KEY, ActiveRun, current, current_run, registry, take_trial_overrides
from ._validate import JOB_TYPE_MAX, SECRET_HINT, TAG_MAX, WandbConfigError, check_no_secret_values, is_secret_name

if TYPE_CHECKING:  # pragma: no cover - ext imports this module
    from ._resolve import RunPlan, TaskInfo, Topology

logger = logging.getLogger("flyteplugins.wandb")

# Set on every tracked wrapper (value: its decorator settings): how a second @wandb_init is spotted.
MARKER = "__flyteplugins_wandb__"

FLYTE_CONFIG_KEY = "flyte"
INPUT_JSON_MAX = 512  # longer inputs (and anything not JSON) are logged as a summary
_NOT_IN_ARTIFACT_NAMES = re.compile(r"[^A-Za-z0-9._-]+")


def console_url(ctx: Any) -> str | None:  # this action's Flyte console URL; None locally or without a client
    if not ctx or getattr(ctx, "mode", "local") == "local":
        return None
    action = ctx.action
    if not (action.project and action.domain and action.run_name):
        return None
    try:
        from flyte._initialize import get_client  # what flyte.remote's Run.url uses

        return str(get_client().console.action_url(action.project, action.domain, action.run_name, action.name))
    except Exception:  # no client (no endpoint), or an older flyte without the builder: no link
        return None


def run_tag(run_name: str) -> str:  # the tag that finds every W&B run of one Flyte run (cut to W&B's tag limit)
    return f"flyte-run:{run_name}"[:TAG_MAX]


def _owns_identity(plan: RunPlan, info: TaskInfo) -> bool:
    return plan.action == "init" and plan.primary and (plan.run_id is None or plan.run_id != info.parent_run_id)


def apply(
    plan: RunPlan, info: TaskInfo, ctx: Any, *, task: Any, topology: Topology | None, inputs: dict[str, Any] | None
) -> None:
    """Fill ``plan.init_kwargs`` with the Flyte identity and ``inputs`` (user values win)."""
    if not info.in_task or not ctx or not _owns_identity(plan, info):
        return
    kwargs = plan.init_kwargs
    config = dict(kwargs.get("config") or {})
    action = ctx.action
    block: dict[str, Any] = {
        "project": action.project,
        "domain": action.domain,
        "run_name": action.run_name,
        "action_name": action.name,
        "task_name": getattr(task, "name", None),
        "attempt": int(getattr(ctx, "attempt_number", 0) or 0),
        "mode": getattr(ctx, "mode", None),
        "url": console_url(ctx),
    }
    if topology is not None and topology.world_size > 1:
        block.update(rank=topology.rank, worker=topology.worker_index, world_size=topology.world_size)
    config.setdefault(FLYTE_CONFIG_KEY, block)
    if inputs is not None:
        logged = {name: summarise_input(value) for name, value in inputs.items()}
        check_no_secret_values("@wandb_init(log_inputs=True)", "inputs", logged)
        config.setdefault("inputs", logged)
    kwargs["config"] = config
    if info.is_task:
        short = getattr(task, "short_name", None) or (block["task_name"] or "").rsplit(".", 1)[-1]
        if not kwargs.get("name") and short:
            rank = f"-rank{block['rank']}" if "rank" in block else ""
            kwargs["name"] = _NOT_IN_ARTIFACT_NAMES.sub("-", f"{short}-{block['action_name']}{rank}")
        if not kwargs.get("job_type") and block["task_name"]:
            kwargs["job_type"] = str(block["task_name"])[:JOB_TYPE_MAX]
    if not kwargs.get("tags") and block["run_name"]:
        kwargs["tags"] = [run_tag(str(block["run_name"]))]
    if not kwargs.get("notes"):
        where = f"action {block['action_name']} of Flyte run {block['run_name']}"
        where = f"{block['task_name']}, {where}" if block["task_name"] else where
        if block["url"]:
            kwargs["notes"] = f"Flyte {where}: {block['url']}"
        elif block["mode"] == "local":
            kwargs["notes"] = f"Flyte local run: not in a Flyte console ({where})."
        else:
            kwargs["notes"] = f"Flyte {where} (no console URL: flyte was not initialised with an endpoint)."


def summarise_input(value: Any) -> Any:
    with contextlib.suppress(TypeError, ValueError):  # not JSON: a summary
        if len(json.dumps(value, allow_nan=True)) <= INPUT_JSON_MAX:
            return value
    kind = type(value).__name__
    if dataclasses.is_dataclass(value):
        return f"<dataclass {kind}>"
    if isinstance(value, str):
        return f"<{kind}, {len(value)} characters>"
    if isinstance(value, bytes):
        return f"<bytes, {len(value)}>"
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        return f"<{kind}, {len(value)} items>"
    return f"<{kind}>"


def check_input_names(where: str, func: Callable[..., Any]) -> None:
    try:
        names = list(inspect.signature(func).parameters)
    except (TypeError, ValueError):  # a builtin or C callable: nothing to check
        return
    if (name := next((name for name in names if is_secret_name(name)), None)) is not None:
        raise WandbConfigError(
            f"{where}: log_inputs=True would log the input {name!r}, whose name says it holds a "
            f"credential. Take {name!r} out of the task's inputs or drop log_inputs. {SECRET_HINT}"
        )


def bound_inputs(signature: inspect.Signature | None, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if signature is None:
        return None
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError:  # the call itself is wrong: let the function raise its own error
        return {}
    bound.apply_defaults()
    return {k: v for k, v in bound.arguments.items() if k not in ("self", "cls")}


def _task_info(is_task: bool, enclosing: ActiveRun | None) -> tuple[TaskInfo, dict[str, Any], Any]:
    from ._resolve import TaskInfo  # loads with the first tracked call, not at import

    ctx = flyte.ctx()
    sweep_trial = bool(os.environ.get("WANDB_SWEEP_ID"))
    if not ctx:
        enclosing_id = enclosing.run_id if enclosing else None
        return TaskInfo(is_task=is_task, enclosing_run_id=enclosing_id, sweep_trial=sweep_trial), {}, None
    cc = dict(ctx.custom_context or {})
    parent = cc.get(RUN_ID_KEY) or None
    info = TaskInfo(
        in_task=True,
        is_task=is_task,
        run_name=ctx.action.run_name,
        action_name=ctx.action.name,
        flyte_mode=getattr(ctx, "mode", "local") or "local",
        parent_run_id=parent,
        parent_project=cc.get(RUN_PROJECT_KEY) or None,
        parent_entity=cc.get(RUN_ENTITY_KEY) or None,
        parent_offline=cc.get(RUN_OFFLINE_KEY) == "true",
        parent_in_process=registry.shared_run(parent) is not None,
        enclosing_run_id=enclosing.run_id if (enclosing and enclosing.run is not None) else None,
        sweep_trial=sweep_trial,
    )
    return info, parse_context(cc), ctx


class _Scope:
    def __init__(self, decorator_settings: dict[str, Any], is_task: bool, task: Any, inputs: Any = None) -> None:
        self.decorator_settings = decorator_settings
        self.inputs: dict[str, Any] | None = inputs  # with log_inputs=True
        self.is_task = is_task
        self.task = task
        self.enclosing = _concurrency.settle(current())  # the caller's scope, whose report lists our run
        self.active: ActiveRun | None = None
        self.plan: RunPlan | None = None
        self.in_task = False
        self.trial_handle: _state.TrialHandle | None = None
        self.is_trial = False  # a sweep trial's call: its run may open beside its body
        self.dist: ModuleType | None = None  # rank handling, when this call runs on a torchrun rank
        self.error: BaseException | None = None  # what the body raised

    def plan_run(self) -> RunPlan:
        from ._resolve import RunPlan, merge_settings, resolve_run

        info, context_settings, ctx = _task_info(self.is_task, self.enclosing)
        self.in_task = info.in_task
        trial = take_trial_overrides(ctx.custom_context if (self.is_task and ctx) else None)
        if trial is not None:
            self.is_trial = True
            info = dataclasses.replace(info, sweep_trial=True)
            self.trial_handle = trial.pop(TRIAL_HANDLE_KEY, None)
        if not self.is_task:
            context_settings.pop("id", None)  # a plain function does not inherit the task's run identity
        settings = merge_settings(self.decorator_settings, context_settings)
        ranks = _extras.distribution(os.environ) if self.is_task else _extras.NOT_DISTRIBUTED
        if ranks.rank0_only:
            if os.environ.get("RANK", "0") != "0":
                self.plan = RunPlan(action="skip", advertise=False)
                return self.plan
            if settings.get("run_mode") == "shared":
                # Without rank handling, "shared" means rank 0 logging alone (what the warning promised).
                settings = {**settings, "run_mode": "auto"}
        self.plan = resolve_run(
            settings,
            info,
            ranks.topology,
            env=os.environ,
            has_credentials=_state.wandb_server(settings.get("host")).has_credentials,
            distributed=ranks.handler.resolve_distributed if ranks.handler is not None else None,
            trial=trial,
        )
        self.dist = ranks.handler
        apply(self.plan, info, ctx, task=self.task, topology=ranks.topology, inputs=self.inputs)
        if self.is_task and self.plan.download_logs:
            # A multi-process Elastic task skips the download even where it runs as one process.
            _extras.skip_download_if_distributed(self.plan, self.task)
        return self.plan

    def open(self) -> None:
        from ._lifecycle import start_run

        plan = self.plan
        assert plan is not None
        run = registry.shared_run(plan.run_id) if plan.action == "reuse" else None
        if plan.action == "skip" or run is not None:  # a rank that does not log, or a reuse: not the run's owner
            self.active = ActiveRun(run=run, run_id=plan.run_id, primary=False, plan=plan)
        else:
            if plan.action == "reuse":  # the ancestor already finished: open our own part
                plan.action = "init"
                plan.init_kwargs.update(id=plan.run_id, resume="allow", reinit="create_new")
            self.active = start_run(plan)
        if self.dist is not None and self.active.run is not None:
            self.dist.on_run_open()
        if self.trial_handle is not None:
            self.trial_handle._opened(self.active)
        if self.is_task and getattr(self.task, "report", False):
            from . import _report  # only tasks with report=True load the report code

            _report.on_open(self)

    def close(self) -> None:
        from ._lifecycle import finish_run

        error, active = self.error, self.active
        if active is None:
            return
        if self.trial_handle is not None:
            self.trial_handle._closing(active)
        report = active.report is not None or (self.enclosing is not None and self.enclosing.report is not None)
        if report:
            from . import _report

            capture = _report.before_finish(self)
        finish_run(active, error)
        if self.trial_handle is not None:
            self.trial_handle._closed(active)
        if report:
            _report.after_finish(self, capture, error)
        downloads = self.plan is not None and self.plan.download_logs and active.owner
        if error is None and downloads and active.run is not None:
            if active.offline:
                logger.warning("download_logs=True skipped for offline run %s: nothing was uploaded.", active.run_id)
            else:
                active.download_requested = True

    @contextlib.contextmanager
    def exposed(self, pending: _concurrency.PendingOpen | None) -> Iterator[None]:
        """Around the body: its run (or ``pending``'s stand-in) is current and advertised to child tasks."""
        active = pending.active if pending is not None else self.active
        children = flyte.custom_context(**values) if (values := self._advertised(active)) else contextlib.nullcontext()
        try:
            with current_run(active), children:
                yield
        except BaseException as exc:
            self.error = exc
            raise

    def _advertised(self, active: ActiveRun | None) -> dict[str, str] | None:
        plan = self.plan
        if not self.in_task or active is None or active.run is None or plan is None or not plan.advertise:
            return None
        if active.pending is not None and plan.init_kwargs.get("project"):
            # Still opening: the names it opens under, as a child would otherwise read them from it.
            project, entity = plan.init_kwargs.get("project"), plan.init_kwargs.get("entity")
        else:
            _concurrency.settle(active)
            project, entity = getattr(active.run, "project", ""), getattr(active.run, "entity", "")
        return {
            RUN_ID_KEY: str(active.run_id),
            RUN_PROJECT_KEY: str(project or ""),
            RUN_ENTITY_KEY: str(entity or ""),
            RUN_OFFLINE_KEY: "true" if active.offline else "false",
            # An explicit id names one run, and a trial's overrides are the trial action's: not the children's.
            "wandb_id": "",
            TRIAL_CONTEXT_KEY: "",
            **({RUN_HOST_KEY: plan.host} if plan.host else {}),
        }


def _wrap(
    func: Callable[..., Any], settings: dict[str, Any], *, is_task: bool, task: Any = None, inputs_of: Any = None
) -> Callable[..., Any]:
    signature = inspect.signature(inputs_of) if inputs_of is not None else None

    @functools.wraps(func)
    async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
        scope = _Scope(settings, is_task, task, bound_inputs(signature, args, kwargs))
        scope.plan_run()
        # Off the event loop (wandb.init blocks); opens and finishes have pools of their own.
        pending = _concurrency.start(scope)
        if pending is None:
            await _concurrency.opening(scope.open)
        try:
            with scope.exposed(pending):
                result = await func(*args, **kwargs)
        finally:
            if pending is not None:
                await _concurrency.opened(pending)
            await _concurrency.finishing(scope.close)
        if pending is not None:
            pending.wait()  # raises what the open raised, once the body's result is safe
        if scope.active is not None and scope.active.download_requested:
            from ._download import download_after_run

            await download_after_run(scope.active)
        return result

    @functools.wraps(func)
    def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
        scope = _Scope(settings, is_task, task, bound_inputs(signature, args, kwargs))
        scope.plan_run()
        _concurrency.wait_for_backlog()
        pending = _concurrency.start(scope)
        if pending is None:
            scope.open()
        try:
            with scope.exposed(pending):
                result = func(*args, **kwargs)
        finally:
            if pending is not None:
                pending.ready.wait()
            with _concurrency.finish_pending():
                scope.close()
        if pending is not None:
            pending.wait()  # raises what the open raised
        if scope.active is not None and scope.active.download_requested:
            from ._download import download_after_run_sync

            download_after_run_sync(scope.active)
        return result

    wrapper = async_wrapper if inspect.iscoroutinefunction(func) else sync_wrapper
    setattr(wrapper, MARKER, settings)
    return wrapper
