"""Flyte identity on the W&B runs a call opens itself (config ``flyte`` block, name, job type, tag, notes,
opt-in inputs): defaults the user's own values override (docs/run-modes.md)."""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ._validate import JOB_TYPE_MAX, SECRET_HINT, TAG_MAX, WandbConfigError, check_no_secret_values, is_secret_name

if TYPE_CHECKING:  # pragma: no cover
    from ._resolve import RunPlan, TaskInfo, Topology

FLYTE_CONFIG_KEY = "flyte"
INPUTS_CONFIG_KEY = "inputs"
RUN_TAG_PREFIX = "flyte-run:"
LOCAL_NOTE = "Flyte local run: not in a Flyte console."

INPUT_JSON_MAX = 512  # longer inputs (and anything not JSON) are logged as a summary


def console_url(ctx: Any) -> str | None:
    """The Flyte console URL of this action; None for a local action or without a client to build it from."""
    if not ctx or getattr(ctx, "mode", "local") == "local":
        return None
    action = ctx.action
    if not (action.project and action.domain and action.run_name):
        return None
    try:
        from flyte._initialize import get_client  # what flyte.remote's Run.url uses

        console = get_client().console
        return str(console.action_url(action.project, action.domain, action.run_name, action.name))
    except Exception:  # no client (no endpoint), or an older flyte without the builder: no link
        return None


def flyte_block(ctx: Any, task: Any, topology: Topology | None) -> dict[str, Any]:
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
    return block


_NOT_IN_ARTIFACT_NAMES = re.compile(r"[^A-Za-z0-9._-]+")


def _display_name(task: Any, block: Mapping[str, Any]) -> str | None:
    short = getattr(task, "short_name", None) or (block["task_name"] or "").rsplit(".", 1)[-1]
    if not short:
        return None
    name = f"{short}-{block['action_name']}"
    if "rank" in block:
        name += f"-rank{block['rank']}"
    return _NOT_IN_ARTIFACT_NAMES.sub("-", name)


def run_tag(run_name: str) -> str:
    """The tag that finds every W&B run of one Flyte run (cut to W&B's tag limit)."""
    return f"{RUN_TAG_PREFIX}{run_name}"[:TAG_MAX]


def _notes(block: Mapping[str, Any]) -> str:
    where = f"action {block['action_name']} of Flyte run {block['run_name']}"
    if block["task_name"]:
        where = f"{block['task_name']}, {where}"
    if block["url"]:
        return f"Flyte {where}: {block['url']}"
    if block["mode"] == "local":
        return f"{LOCAL_NOTE[:-1]} ({where})."
    return f"Flyte {where} (no console URL: flyte was not initialised with an endpoint)."


def _owns_identity(plan: RunPlan, info: TaskInfo) -> bool:
    if plan.action != "init" or not plan.primary:
        return False
    return plan.run_id is None or plan.run_id != info.parent_run_id


def apply(
    plan: RunPlan, info: TaskInfo, ctx: Any, *, task: Any, topology: Topology | None, inputs: dict[str, Any] | None
) -> None:
    """Fill ``plan.init_kwargs`` with the Flyte defaults (user values win), ``inputs`` (`bound_inputs`) too.
    Raises `WandbConfigError` for a logged input holding the key."""
    if not info.in_task or not ctx or not _owns_identity(plan, info):
        return
    kwargs = plan.init_kwargs
    config = dict(kwargs.get("config") or {})
    block = flyte_block(ctx, task, topology)
    config.setdefault(FLYTE_CONFIG_KEY, block)
    if inputs is not None:
        logged = {name: summarise_input(value) for name, value in inputs.items()}
        check_no_secret_values("@wandb_init(log_inputs=True)", "inputs", logged)
        config.setdefault(INPUTS_CONFIG_KEY, logged)
    kwargs["config"] = config
    if info.is_task:
        if not kwargs.get("name") and (name := _display_name(task, block)):
            kwargs["name"] = name
        if not kwargs.get("job_type") and block["task_name"]:
            kwargs["job_type"] = str(block["task_name"])[:JOB_TYPE_MAX]
    if not kwargs.get("tags") and block["run_name"]:
        kwargs["tags"] = [run_tag(str(block["run_name"]))]
    if not kwargs.get("notes"):
        kwargs["notes"] = _notes(block)


def _summary(value: Any) -> str:
    kind = type(value).__name__
    if dataclasses.is_dataclass(value):
        return f"<dataclass {kind}>"
    if isinstance(value, (str, bytes)):
        return f"<{kind}, {len(value)} characters>" if isinstance(value, str) else f"<bytes, {len(value)}>"
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        return f"<{kind}, {len(value)} items>"
    return f"<{kind}>"


def summarise_input(value: Any) -> Any:
    try:
        text = json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        return _summary(value)
    return value if len(text) <= INPUT_JSON_MAX else _summary(value)


def check_input_names(where: str, func: Callable[..., Any]) -> None:
    try:
        names = list(inspect.signature(func).parameters)
    except (TypeError, ValueError):  # a builtin or C callable: nothing to check
        return
    for name in names:
        if is_secret_name(name):
            raise WandbConfigError(
                f"{where}: log_inputs=True would log the input {name!r}, whose name says it holds a "
                f"credential. Take {name!r} out of the task's inputs or drop log_inputs. {SECRET_HINT}"
            )


def bound_inputs(signature: inspect.Signature | None, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A ``log_inputs=True`` call's inputs by name (None without ``signature``, the function's)."""
    if signature is None:
        return None
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError:  # the call itself is wrong: let the function raise its own error
        return {}
    bound.apply_defaults()
    return {k: v for k, v in bound.arguments.items() if k not in ("self", "cls")}
