"""Run resolution: one pure function from (settings, task context, topology) to a run plan (table-tested)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ._state import DEFAULT_API_URL, DEFAULT_HOST, api_base_url  # DEFAULT_HOST: re-exported for links
from ._validate import RUN_ID_MAX, WANDB_FIELDS, WandbConfigError, check_no_secret_values, run_id_problem

Action = Literal["init", "reuse", "skip"]


@dataclass(frozen=True)
class TaskInfo:  # where the running code is: parent_* is the nearest tracked ancestor's run
    in_task: bool = False
    is_task: bool = True
    run_name: str | None = None
    action_name: str | None = None
    flyte_mode: str = "local"
    parent_run_id: str | None = None
    parent_project: str | None = None
    parent_entity: str | None = None
    parent_offline: bool = False
    parent_in_process: bool = False
    enclosing_run_id: str | None = None
    sweep_trial: bool = False


@dataclass(frozen=True)
class Topology:
    """From torchrun's environment (flyteplugins-wandb-distributed)."""

    rank: int
    local_rank: int
    world_size: int
    local_world_size: int
    worker_index: int
    num_workers: int

    @property
    def multi_node(self) -> bool:
        return self.num_workers > 1


@dataclass
class RunPlan:
    """``"init"`` a run, ``"reuse"`` the run ``run_id`` open in this process, or ``"skip"`` (a rank that does not
    log); a ``primary`` finishes the run with its exit code; ``advertise`` publishes it to child tasks."""

    action: Action
    run_id: str | None = None
    init_kwargs: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    primary: bool = True
    advertise: bool = True
    download_logs: bool = False
    on_error: str = "continue"
    finish_timeout: float | None = None
    host: str | None = None

    def open(self, run_id: str | None, *, resume: bool) -> RunPlan:
        """Open the run ``run_id`` (None: wandb picks); ``resume`` continues it."""
        self.action, self.run_id = "init", run_id
        if run_id is None:
            self.init_kwargs.pop("id", None)
        else:
            self.init_kwargs["id"] = run_id
            if resume:
                self.init_kwargs.setdefault("resume", "allow")
        self.init_kwargs.setdefault("reinit", "create_new")
        return self


def merge_settings(decorator: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    """Decorator > context > defaults; ``config``, ``kwargs`` and ``settings`` merge key by key."""
    merged = WANDB_FIELDS.merge(decorator, context, nested=("config", "kwargs"))
    ctx_settings = (context.get("kwargs") or {}).get("settings")
    dec_settings = (decorator.get("kwargs") or {}).get("settings")
    if isinstance(ctx_settings, Mapping) and isinstance(dec_settings, Mapping):
        merged["kwargs"] = {**merged["kwargs"], "settings": {**ctx_settings, **dec_settings}}
    # These two decide the plan: their defaults apply here, and a hand-written context is checked too.
    deciding = {name: merged.setdefault(name, WANDB_FIELDS.defaults[name]) for name in ("run_mode", "rank_scope")}
    WANDB_FIELDS.check("W&B run settings", deciding)
    return merged


def ui_host(host: str | None, env_base_url: str | None) -> str:
    if host:
        return host.rstrip("/")
    base = (env_base_url or "").rstrip("/")
    return base if base and base != DEFAULT_API_URL else DEFAULT_HOST


def choose_mode(explicit: str | None, env: Mapping[str, str], has_credentials: bool) -> str | None:
    # Explicit mode wins, then WANDB_MODE (wandb reads it itself); with neither and no credentials, offline.
    return explicit or (None if env.get("WANDB_MODE") or env.get("WANDB_API_KEY") or has_credentials else "offline")


DERIVED_RUN_ID_MAX = 64  # room is left for the rank/worker suffixes of distributed runs

_NOT_ID_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_HASH_LEN = 10


def _hashed(raw: str, readable: str, limit: int) -> str:
    digest = hashlib.sha256(raw.encode("utf-8")).hexdigest()[:_HASH_LEN]
    head = readable[: max(0, limit - _HASH_LEN - 1)].rstrip("-.")
    return f"{head}-{digest}" if head else digest


def derive_run_id(*parts: str, max_length: int = DERIVED_RUN_ID_MAX) -> str:
    """The W&B run id for Flyte names; refused or too long ones get ``-`` for other characters and a hash
    appended; templated ones (``{{.actionName}}``) are kept for Flyte to substitute."""
    raw = "-".join(parts)
    safe = _NOT_ID_SAFE.search(raw) is None and not raw.startswith(("-", "."))
    if "{{" in raw or (safe and len(raw) <= max_length and run_id_problem(raw) is None):
        return raw
    return _hashed(raw, _NOT_ID_SAFE.sub("-", raw).strip("-."), max_length)


def run_id_with_suffix(base: str, suffix: str, max_length: int = RUN_ID_MAX) -> str:
    """``base + suffix`` (e.g. ``-rank-3``), shortening ``base`` with a hash when the sum is too long."""
    if len(base) + len(suffix) <= max_length:
        return base + suffix
    return _hashed(base, base, max_length - len(suffix)) + suffix


def resolve_run(
    settings: Mapping[str, Any],
    task: TaskInfo,
    topology: Topology | None = None,
    *,
    env: Mapping[str, str] | None = None,
    has_credentials: bool = False,
    distributed: Callable[[dict[str, Any], Topology, RunPlan], RunPlan] | None = None,
    trial: Mapping[str, Any] | None = None,
) -> RunPlan:
    """Merged settings plus the task's situation -> `RunPlan` (``trial``: a sweep trial's init overrides)."""
    env = env or {}
    s = dict(settings)
    run_mode = s.get("run_mode", "auto")
    plan = _plan(s, env, has_credentials)
    explicit_id: str | None = s.get("id")
    if trial is not None:
        overrides = dict(trial)
        plan.settings.update(overrides.pop("settings", None) or {})
        if trial_config := overrides.pop("config", None):
            plan.init_kwargs["config"] = {**plan.init_kwargs.get("config", {}), **trial_config}
        plan.init_kwargs.update(overrides)
        explicit_id = overrides.get("id", explicit_id)
    # The key may reach a task by a path no decorator saw (a hand-written custom_context): refuse it here too.
    check_no_secret_values(
        "W&B run settings from the task's context", "wandb.init", {**plan.init_kwargs, "settings": plan.settings}, env
    )
    # A run with no project of its own (a run_mode="new" child: project is not inherited) goes to its parent's.
    kwargs = plan.init_kwargs
    if trial is None and not task.sweep_trial and not kwargs.get("project") and task.parent_project:
        kwargs["project"] = task.parent_project
        if not kwargs.get("entity") and task.parent_entity:
            kwargs["entity"] = task.parent_entity
    if topology is not None and topology.world_size > 1 and task.is_task:
        assert distributed is not None  # the caller passes rank handling with a topology
        plan.run_id = _base_id(explicit_id, task)
        if "mode" not in plan.init_kwargs and env.get("WANDB_MODE"):
            # Shared mode set through Settings would override WANDB_MODE=offline: make it explicit.
            plan.init_kwargs["mode"] = env["WANDB_MODE"]
        return distributed(s, topology, plan)
    # A sweep trial always gets its own run; wandb.agent (or the launcher's overrides) give its id.
    if task.sweep_trial or trial is not None:
        return plan.open(explicit_id, resume=False)
    if not task.is_task:
        return _resolve_function(plan, run_mode, task, explicit_id)
    return _resolve_task(plan, run_mode, task, _base_id(explicit_id, task))


def _plan(s: Mapping[str, Any], env: Mapping[str, str], has_credentials: bool) -> RunPlan:
    extra = dict(s.get("kwargs") or {})
    user_settings = extra.pop("settings", None) or {}
    init_kwargs: dict[str, Any] = {k: s[k] for k in WANDB_FIELDS.with_role("init") if s.get(k) is not None}
    init_kwargs.update(extra)
    plan_settings: dict[str, Any] = dict(user_settings) if isinstance(user_settings, Mapping) else {}
    if base_url := api_base_url(s.get("host")):
        plan_settings["base_url"] = base_url
    if mode := choose_mode(s.get("mode"), env, has_credentials):
        init_kwargs["mode"] = mode
    return RunPlan(
        action="init",
        init_kwargs=init_kwargs,
        settings=plan_settings,
        download_logs=bool(s.get("download_logs", False)),
        on_error=s.get("on_error") or "continue",
        finish_timeout=s.get("finish_timeout"),
        host=s.get("host"),
    )


def _base_id(explicit_id: str | None, task: TaskInfo) -> str | None:
    # The user's id, else one derived from the Flyte run and action (a task's retries share it).
    if explicit_id is None and task.in_task and task.is_task and task.run_name and task.action_name:
        return derive_run_id(task.run_name, task.action_name)
    return explicit_id


def _resolve_task(plan: RunPlan, run_mode: str, task: TaskInfo, base_id: str | None) -> RunPlan:
    parent = task.parent_run_id
    if run_mode == "shared" and not parent:
        raise WandbConfigError(
            f"run_mode='shared' needs a tracked ancestor task, but task {task.action_name!r} has none. "
            "Decorate a parent task with @wandb_init, or use run_mode='auto' (shares when a parent run "
            "exists, otherwise creates one) or run_mode='new'."
        )
    if run_mode in ("auto", "shared") and parent and task.parent_in_process:
        return replace(plan, action="reuse", run_id=parent, primary=False)
    if run_mode in ("auto", "shared") and parent:
        plan.run_id, plan.primary = parent, False
        plan.init_kwargs.update(id=parent, reinit="create_new")
        if task.parent_project:
            plan.init_kwargs["project"] = task.parent_project
        if task.parent_entity:
            plan.init_kwargs["entity"] = task.parent_entity
        if task.parent_offline or plan.init_kwargs.get("mode") == "offline":
            # Offline runs cannot be shared across processes: this task's part goes under the same id, resumed.
            plan.init_kwargs.update(mode="offline", resume="allow")
            plan.primary = True
            return plan
        plan.settings.update(
            mode="shared", x_primary=False, x_label=task.action_name or "child", x_update_finish_state=False
        )
        return plan
    # Retries and Elastic restarts reuse a deterministic id: continue the run instead of clobbering it.
    own = plan.open(base_id, resume=base_id is not None)
    if task.flyte_mode != "local" and own.init_kwargs.get("mode") != "offline":
        # Remote children run in other pods: open the run in shared mode so they can join it.
        own.settings.update(mode="shared", x_primary=True, x_label=task.action_name or "primary")
    return own


def _resolve_function(plan: RunPlan, run_mode: str, task: TaskInfo, explicit_id: str | None) -> RunPlan:
    enclosing = task.enclosing_run_id
    if run_mode == "shared" and not enclosing:
        raise WandbConfigError(
            "run_mode='shared' on a plain function needs an enclosing tracked task or function run; "
            "none is active. Use run_mode='auto' or 'new'."
        )
    if run_mode in ("auto", "shared") and enclosing:
        return replace(plan, action="reuse", run_id=enclosing, primary=False, advertise=False)
    return plan.open(explicit_id, resume=False)
