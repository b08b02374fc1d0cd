"""The controller loop in the sweep task: every trial is a Flyte action, at most ``agents`` at a time.

"Agents" are slots: each asks for a trial (offline: the in-task `OfflineController`; online: the W&B
server, through a registered agent's heartbeats), runs it as a child action and asks for the next one.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import sys
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

import flyte

from flyteplugins.wandb_core.ext import trial_context, trial_scope

from ._agent import AgentSpec, Launch, make_result, trial_overrides, watch
from ._config import SweepState
from ._engine import OfflineController, unwrap_params
from ._readback import summary_from_elsewhere
from ._results import TrialResult
from ._server import TRIAL_HEARTBEAT_S, ServerAgent, TrialHeartbeat, next_command


@dataclass
class Plan:
    """One ``run_sweep_agents`` call, as the slots see it."""

    state: SweepState
    launch: Launch
    token: str
    objective: Any
    objective_is_task: bool
    agent_task: Any
    agents: int
    total: int
    metric_name: str | None
    goal: str
    poll_interval: float
    idle_timeout: float
    in_process: bool
    upload_runs: bool
    # The slots' blocking calls (heartbeats, engine suggestions): a pool as wide as the slots, since
    # the event loop's default executor (CPU count + 4 threads) made 20 slots take turns.
    executor: ThreadPoolExecutor | None = field(default=None, repr=False)


T = TypeVar("T")


async def _blocking(plan: Plan, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(plan.executor, call)


def _error_text(exc: BaseException) -> str:
    # Flyte hands a child's exception to its parent as RuntimeUserError(code=<original class name>).
    code = getattr(exc, "code", None)
    message = getattr(exc, "message", None) or str(exc)
    if isinstance(code, str) and code and code != type(exc).__name__:
        return f"{code}: {message}"
    return f"{type(exc).__name__}: {message}"


def _was_stopped(exc: BaseException) -> bool:
    return type(exc).__name__ == "TrialStopped" or getattr(exc, "code", None) == "TrialStopped"


def _trial_context(plan: Plan, run_id: str, params: dict[str, Any]) -> dict[str, str]:
    """custom_context of a trial action: its run's identity (for core and for the action's W&B link)."""
    state = plan.state
    keys = {**trial_context(**trial_overrides(state, run_id, params)), "wandb_id": run_id}
    if state.project:
        keys["wandb_project"] = state.project
    if state.entity:
        keys["wandb_entity"] = state.entity
    return keys


async def _run_function_trial(plan: Plan, slot: int, run_id: str, params: dict[str, Any]) -> TrialResult:
    state = plan.state
    spec = AgentSpec(
        launch=plan.token,
        agent=slot,
        sweep_id=state.sweep_id,
        mode=state.mode,
        objective=f"{plan.objective.__module__}:{plan.objective.__qualname__}",
        project=state.project,
        entity=state.entity,
        metric_name=plan.metric_name,
        assignments=[{"run_id": run_id, "params": params}],
        upload_runs=plan.upload_runs,
    )
    start = time.monotonic()
    try:
        with flyte.custom_context(**_trial_context(plan, run_id, params)):
            raw = await plan.agent_task.aio(json.dumps(asdict(spec)))
    except Exception as exc:
        with plan.launch.lock:
            known = plan.launch.finished.get(run_id)
        if known is not None:  # the action ran in this process and recorded exactly what happened
            return known
        stopped = _was_stopped(exc)
        error = None if stopped else _error_text(exc)
        return make_result(run_id, params, "stopped" if stopped else "failed", {}, None, start, error=error, agent=slot)
    (result,) = [TrialResult.from_dict(d) for d in json.loads(raw)]
    return result


async def _run_task_trial(plan: Plan, slot: int, run_id: str, params: dict[str, Any]) -> TrialResult:
    start = time.monotonic()
    out: Any = None
    error: str | None = None
    trial_state = "finished"
    # In-process (local mode) the contextvar reaches the trial's own scope, with a handle that sees
    # every logged row; in another pod the context key alone carries the overrides.
    with (
        trial_scope(**trial_overrides(plan.state, run_id, params)) as handle,
        flyte.custom_context(**_trial_context(plan, run_id, params)),
    ):
        watch(handle, run_id, plan.launch.stop_flag(run_id), plan.launch.observer())
        # The objective task takes the parameters it names as inputs (all of them are in its config).
        names = set(getattr(getattr(plan.objective, "native_interface", None), "inputs", None) or {})
        try:
            out = await plan.objective.aio(**{k: v for k, v in params.items() if k in names})
        except Exception as exc:
            trial_state = "stopped" if _was_stopped(exc) else "failed"
            error = None if trial_state == "stopped" else _error_text(exc)
    if handle.opened:
        summary = dict(handle.summary)
    else:
        summary = await _blocking(plan, summary_from_elsewhere, plan.state, run_id, out, plan.metric_name)
    return make_result(run_id, params, trial_state, summary, plan.metric_name, start, handle, error=error, agent=slot)


async def run_one(plan: Plan, slot: int, run_id: str, params: dict[str, Any]) -> TrialResult:
    if plan.objective_is_task:
        return await _run_task_trial(plan, slot, run_id, params)
    return await _run_function_trial(plan, slot, run_id, params)


async def _offline_slot(plan: Plan, controller: OfflineController, slot: int) -> None:
    while True:
        assignment = await _blocking(plan, controller.next_trial)
        if assignment is None:
            return
        result = await run_one(plan, slot, assignment.run_id, assignment.params)
        await _blocking(plan, controller.report, assignment.run_id, result.state, result.summary)
        plan.launch.record(result)


async def _online_slot(plan: Plan, slot: int, server_factory: Callable[..., Any] = ServerAgent) -> None:
    state, launch = plan.state, plan.launch
    server = await _blocking(plan, server_factory, state.sweep_id, state.project, state.entity, state.host)
    pending: deque[dict[str, Any]] = deque()
    label = f"wandb sweep {state.sweep_id}: agent {slot}"
    # A trial is claimed from the budget *before* asking the server for one: a run command the
    # server hands out is then always run (the server does not re-issue lost commands).
    while launch.claim():
        command = await _blocking(plan, next_command, server, pending, plan.poll_interval, plan.idle_timeout, label)
        if command is None:
            launch.release()
            return
        run_id = str(command["run_id"])
        params = unwrap_params(command.get("args") or {})
        beat = TrialHeartbeat(
            server, run_id, max(plan.poll_interval, TRIAL_HEARTBEAT_S), launch.stop_flag(run_id), pending
        )
        beat.start()
        try:
            result = await run_one(plan, slot, run_id, params)
        finally:
            beat.done.set()
            await _blocking(plan, beat.join)
        launch.record(result)
        if beat.exit_requested:
            return


async def run_slots(
    plan: Plan, controller: OfflineController | None, server_factory: Callable[..., Any] = ServerAgent
) -> list[str]:
    """Run the sweep on ``plan.agents`` slots; returns the errors of slots that failed as a whole."""

    async def one(slot: int) -> str | None:
        try:
            if controller is not None:
                await _offline_slot(plan, controller, slot)
            else:
                await _online_slot(plan, slot, server_factory)
        except Exception as exc:
            return f"agent {slot}: {_error_text(exc)}"
        return None

    pool = plan.executor = ThreadPoolExecutor(plan.agents + 1, thread_name_prefix="wandb-sweep-slot")
    try:
        outcomes = await asyncio.gather(*(one(i) for i in range(plan.agents)))
    finally:
        pool.shutdown(wait=False)
        plan.executor = None
    return [e for e in outcomes if e]


def early_termination_note(plan: Plan) -> str | None:
    """What early termination can do where the trials run (said once, when the sweep starts)."""
    if not plan.state.config.get("early_terminate") or plan.in_process:
        return None
    sid = plan.state.sweep_id
    if plan.state.mode == "online":
        return (
            f"wandb sweep {sid}: early_terminate: trials run in pods of their own; the W&B server decides "
            "which runs to stop, and a stopped run is ended through W&B's run-stop signal (its file "
            "stream). The sweep task cannot interrupt a trial in another pod itself."
        )
    return (
        f"wandb sweep {sid}: early_terminate is NOT applied to running trials: they run offline in pods "
        "of their own and report their metrics only when they end, so hyperband cannot stop one early. "
        "Finished trials still inform the search. Run the sweep in Flyte local mode (or online) for "
        "early termination."
    )


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
