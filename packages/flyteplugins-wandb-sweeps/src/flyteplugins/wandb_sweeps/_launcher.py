"""``run_sweep_agents``: slots that each ask for a trial and run it as a child action; online, W&B sweep agents."""

import asyncio
import contextvars
import functools
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Generic, ParamSpec, TypeVar

import flyte

from flyteplugins.wandb_core import WandbConfigError
from flyteplugins.wandb_core.ext import is_tracked, trial_context, trial_scope

from . import _results
from ._agent import LAUNCHES, OBJECTIVES, AgentSpec, Launch, trial_overrides, wandb_sweep_agent, watch
from ._compat import register_sweep_agent, sweep_agent_heartbeat
from ._config import DEFAULT_GOAL, MAX_AGENTS, SweepState, WandbSweep, check_positive
from ._engine import OfflineController, check_engine, unwrap_params, validate_sweep_config
from ._results import Progress, SweepResult, TrialResult, make_result, public_api, say
from ._sweep import collect_sweep_logs, current_sweep

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

logger = logging.getLogger("flyteplugins.wandb_sweeps")
# While a trial runs, heartbeats only keep the agent alive and fetch stop commands.
TRIAL_HEARTBEAT_S = 2.0
_agent_apis: dict[tuple[str | None, ...], Any] = {}
_agent_apis_lock = threading.Lock()


class ServerAgent:  # a registered W&B sweep agent: heartbeats carry the server controller's commands
    def __init__(self, sweep_id: str, project: str | None, entity: str | None, host: str | None) -> None:
        # One wandb.Api per server and credentials (15-30 ms each); the slots share its thread-safe HTTP session.
        key = (host, entity, project, os.environ.get("WANDB_BASE_URL"), os.environ.get("WANDB_API_KEY"))
        with _agent_apis_lock:
            if key not in _agent_apis:
                _agent_apis[key] = public_api(host, entity, project)
            self.api = _agent_apis[key]
        agent = register_sweep_agent(self.api, socket.gethostname(), sweep_id=sweep_id, project=project, entity=entity)
        if not (agent and agent.get("id")):
            raise RuntimeError(f"the W&B server did not register an agent for sweep {sweep_id!r}")
        self.agent_id = str(agent["id"])
        self._lock = threading.Lock()

    def heartbeat(self, running: dict[str, bool]) -> list[dict[str, Any]]:
        with self._lock:
            return sweep_agent_heartbeat(self.api, self.agent_id, running)


class TrialHeartbeat(threading.Thread):  # keeps the server informed while a trial runs and relays its commands
    def __init__(
        self, server: Any, run_id: str, interval: float, stop: threading.Event, pending: deque[dict[str, Any]]
    ) -> None:
        super().__init__(name=f"wandb-sweep-heartbeat-{run_id}", daemon=True)
        self.server, self.run_id, self.interval = server, run_id, interval
        self.stop_trial, self.pending = stop, pending
        self.done = threading.Event()
        self.exit_requested = False

    def run(self) -> None:
        while not self.done.wait(self.interval):
            try:
                commands = self.server.heartbeat({self.run_id: True})
            except Exception as exc:  # a missed heartbeat must not kill the trial
                logger.warning("sweep heartbeat failed: %s", exc)
                continue
            for command in commands[:1]:
                if (kind := command.get("type")) == "stop" and command.get("run_id") == self.run_id:
                    self.stop_trial.set()
                elif kind == "exit":
                    self.exit_requested = True
                elif kind in ("run", "resume"):
                    self.pending.append(command)


def next_command(
    server: Any, pending: deque[dict[str, Any]], poll_interval: float, idle_timeout: float, label: str
) -> dict[str, Any] | None:  # heartbeat until the server hands out a trial; None on exit or after idle_timeout
    idle_since = time.monotonic()
    while True:
        if not pending:
            # Only commands[0] is meant to be read (as wandb.agent does).
            pending.extend(server.heartbeat({})[:1])
        if pending:
            command = pending.popleft()
            if (kind := command.get("type")) == "exit":
                return None
            if kind in ("run", "resume") and command.get("run_id"):
                return command
            continue  # a stop for a trial that is not running here
        if time.monotonic() - idle_since > idle_timeout:
            say(f"{label} got no trial for {idle_timeout:.0f}s; stopping.")
            return None
        time.sleep(poll_interval)


@dataclass
class Plan:
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
    # For the slots' blocking calls: the loop's default executor (CPU count + 4 threads) made 20 slots take turns.
    executor: ThreadPoolExecutor | None = field(default=None, repr=False)


async def _blocking(plan: Plan, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(plan.executor, call)


def _error_text(exc: BaseException) -> str:
    # Flyte hands a child's exception to its parent as RuntimeUserError(code=<original class name>).
    code = getattr(exc, "code", None)
    name = code if isinstance(code, str) and code else type(exc).__name__
    return f"{name}: {getattr(exc, 'message', None) or exc}"


def _outcome(exc: BaseException) -> tuple[str, str | None]:
    if type(exc).__name__ == "TrialStopped" or getattr(exc, "code", None) == "TrialStopped":
        return "stopped", None
    return "failed", _error_text(exc)


def _trial_context(plan: Plan, run_id: str, params: dict[str, Any]) -> dict[str, str]:
    """custom_context of a trial action: its run's identity (for core and for the action's W&B link)."""
    overrides = trial_overrides(plan.state, run_id, params)
    keys = {**trial_context(**overrides), "wandb_id": run_id}
    return keys | {f"wandb_{k}": overrides[k] for k in ("project", "entity") if k in overrides}


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
        trial_state, error = _outcome(exc)
        return make_result(run_id, params, trial_state, {}, None, start, error=error, agent=slot)
    (result,) = [TrialResult.from_dict(d) for d in json.loads(raw)]
    return result


async def _run_task_trial(plan: Plan, slot: int, run_id: str, params: dict[str, Any]) -> TrialResult:
    start = time.monotonic()
    out: Any = None
    error: str | None = None
    trial_state = "finished"
    # Local mode: the contextvar reaches the trial's scope (the handle sees every row); in a pod, the context key.
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
            trial_state, error = _outcome(exc)
    if handle.opened:
        summary = dict(handle.summary)
    else:
        summary = await _blocking(plan, _results.summary_from_elsewhere, plan.state, run_id, out, plan.metric_name)
    return make_result(run_id, params, trial_state, summary, plan.metric_name, start, handle, error=error, agent=slot)


async def run_one(plan: Plan, slot: int, run_id: str, params: dict[str, Any]) -> TrialResult:
    run = _run_task_trial if plan.objective_is_task else _run_function_trial
    return await run(plan, slot, run_id, params)


async def _offline_slot(plan: Plan, controller: OfflineController, slot: int) -> None:
    while True:
        if (assignment := await _blocking(plan, controller.next_trial)) is None:
            return
        result = await run_one(plan, slot, assignment.run_id, assignment.params)
        await _blocking(plan, controller.report, assignment.run_id, result.state, result.summary)
        plan.launch.record(result)


async def _online_slot(plan: Plan, slot: int, server_factory: Callable[..., Any] = ServerAgent) -> None:
    state, launch = plan.state, plan.launch
    server = await _blocking(plan, server_factory, state.sweep_id, state.project, state.entity, state.host)
    pending: deque[dict[str, Any]] = deque()
    label = f"wandb sweep {state.sweep_id}: agent {slot}"
    # Claimed *before* asking: a run command the server hands out is always run (it does not re-issue lost ones).
    while launch.claim():
        command = await _blocking(plan, next_command, server, pending, plan.poll_interval, plan.idle_timeout, label)
        if command is None:
            launch.release()
            return
        run_id = str(command["run_id"])
        params = unwrap_params(command.get("args") or {})
        interval = max(plan.poll_interval, TRIAL_HEARTBEAT_S)
        beat = TrialHeartbeat(server, run_id, interval, launch.stop_flag(run_id), pending)
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
) -> list[str]:  # run the sweep on plan.agents slots; returns the errors of slots that failed as a whole
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


def early_termination_note(plan: Plan) -> str | None:  # said once, when the sweep starts
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


def _check_arguments(objective: Callable[..., Any], count: int, agents: int) -> None:
    if isinstance(agents, bool) or not isinstance(agents, int) or agents < 1:
        raise WandbConfigError(f"run_sweep_agents: agents must be an integer from 1 to {MAX_AGENTS}, got {agents!r}.")
    if agents > MAX_AGENTS:
        raise WandbConfigError(
            f"run_sweep_agents: agents={agents} exceeds the cap of {MAX_AGENTS} agents per sweep launch "
            f"(W&B's limit on concurrent sweep agents); use agents<={MAX_AGENTS}."
        )
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise WandbConfigError(
            f"run_sweep_agents: count (total number of trials) must be a positive integer, got {count!r}."
        )
    if not callable(objective):
        raise WandbConfigError(f"run_sweep_agents: objective must be a function, got {objective!r}.")
    if not is_tracked(objective):
        raise WandbConfigError(
            f"run_sweep_agents: objective {getattr(objective, '__qualname__', objective)!r} must be "
            "decorated with @wandb_init, so that each trial gets its own W&B run whose config holds the "
            "trial's parameters (read them with get_wandb_run().config)."
        )


def _agents_share_process() -> bool:
    # Flyte local mode runs child actions in this process, where trials can reach the controller.
    ctx = flyte.ctx()
    return bool(ctx) and (getattr(ctx, "mode", "local") or "local") == "local"


def _write_report(state: SweepState, result: SweepResult) -> None:
    from flyteplugins.wandb_core.ext import report_sweep

    with state.lock:
        # A second launch in the same task gets the first one's trials back as resumed ones: once each.
        seen = {t.run_id for t in state.report_trials}
        state.report_trials.extend(t for t in result.trials if t.run_id not in seen)
        trials = list(state.report_trials)
    # The sweep's own link resolves the UI host (the one given, else WANDB_BASE_URL, else W&B cloud).
    link = WandbSweep(project=state.project, entity=state.entity)
    if state.host:
        link.host = state.host
    host, project, entity = link.place({}, (), ())
    base = f"{host}/{entity}/{project}" if entity and project else None
    sweep_url = f"{base}/sweeps/{state.sweep_id}" if base and state.mode == "online" else None
    report_sweep(
        trials,
        result.metric_name,
        maximize=result.goal == "maximize",
        sweep_id=state.sweep_id,
        sweep_url=sweep_url,
        runs_url=base,
    )


def _sweep_for(objective: Callable[..., Any], engine: Any, in_process: bool) -> SweepState:
    if (state := current_sweep()) is None:
        raise WandbConfigError(
            "run_sweep_agents must be called inside a @wandb_sweep task (or a child task of one): it "
            "needs the sweep that @wandb_sweep creates. Decorate the calling task with @wandb_sweep "
            "(above @env.task)."
        )
    if not in_process and not isinstance(objective, flyte.TaskTemplate) and "<locals>" in objective.__qualname__:
        raise WandbConfigError(
            f"run_sweep_agents: trials in other pods import the objective by name, but "
            f"{objective.__qualname__!r} is defined inside a function; define it at module level."
        )
    if state.mode == "online" and engine is not None:
        raise WandbConfigError(
            f"run_sweep_agents: engine={engine!r} applies to offline sweeps only; this sweep is online, "
            "where the W&B server is the controller and runs the definition's method. Leave engine=None, "
            "or run the sweep offline (@wandb_sweep(mode='offline'))."
        )
    return state


async def _start(state: SweepState, count: int, engine: Any) -> tuple[OfflineController | None, list[TrialResult]]:
    """The offline controller (None online) and the trials that ended before this launch (part of the result)."""
    if state.mode == "online":
        earlier = await asyncio.to_thread(_results.finished_online_trials, state) if state.resumed else []
        if earlier:
            say(f"wandb sweep {state.sweep_id}: resuming: {len(earlier)} trial(s) already ended on the server.")
        return None, earlier
    config = await asyncio.to_thread(validate_sweep_config, state.config)
    prior, next_index, trials = await asyncio.to_thread(_results.prior_offline_trials, state)
    left = max(count - len(trials), 0)
    if trials:
        say(
            f"wandb sweep {state.sweep_id}: resuming: {len(trials)} trial(s) of this sweep already "
            f"finished; running up to {left} more (count={count} in total)."
        )
    controller = await asyncio.to_thread(OfflineController, config, state.sweep_id, left, prior, next_index, engine)
    return controller, trials


async def _launch(
    objective: Callable[..., Any],
    count: int,
    agents: int,
    poll_interval: float,
    idle_timeout: float,
    agent_task: Any,
    engine: Any = None,
) -> SweepResult:
    _check_arguments(objective, count, agents)
    check_engine(engine)
    check_positive("run_sweep_agents", "poll_interval", poll_interval)
    check_positive("run_sweep_agents", "idle_timeout", idle_timeout)
    in_process = _agents_share_process()
    state = _sweep_for(objective, engine, in_process)
    metric = state.config.get("metric") or {}
    metric_name: str | None = metric.get("name")
    goal = metric.get("goal") or DEFAULT_GOAL
    controller, earlier = await _start(state, count, engine)
    launch = Launch(Progress(state.sweep_id, count, metric_name, goal), max(count - len(earlier), 0), controller)
    launch.progress.resume(earlier)
    # Online, a slot that can never get a trial would still register an agent on the sweep's page.
    agents = min(agents, launch.budget)
    if agent_task is None:
        agent_task = wandb_sweep_agent.override(secrets=state.secrets) if state.secrets else wandb_sweep_agent
    plan = Plan(
        state=state,
        launch=launch,
        token=uuid.uuid4().hex,
        objective=objective,
        objective_is_task=isinstance(objective, flyte.TaskTemplate),
        agent_task=agent_task,
        agents=agents,
        total=count,
        metric_name=metric_name,
        goal=goal,
        poll_interval=poll_interval,
        idle_timeout=idle_timeout,
        in_process=in_process,
        upload_runs=state.download_logs,
    )
    errors = await _run(plan, controller)
    name = state.name or state.config.get("name")
    trials = [*earlier, *launch.results]  # the order they finished in
    result = SweepResult(state.sweep_id, state.mode, metric_name, goal, name, trials, agents, errors)
    await _conclude(state, result, count)
    return result


async def _run(plan: Plan, controller: OfflineController | None) -> list[str]:
    state = plan.state
    OBJECTIVES[plan.token] = plan.objective
    if plan.in_process:
        LAUNCHES[plan.token] = plan.launch
    kind = "task " + getattr(plan.objective, "name", "") if plan.objective_is_task else "function"
    say(
        f"wandb sweep {state.sweep_id} ({state.mode}, {state.config.get('method')}): {plan.total} trials, "
        f"at most {plan.agents} at a time, one Flyte action each ({kind} objective)"
    )
    if note := early_termination_note(plan):
        say(note)
    try:
        return await run_slots(plan, controller)
    finally:
        OBJECTIVES.pop(plan.token, None)
        LAUNCHES.pop(plan.token, None)


async def _conclude(state: SweepState, result: SweepResult, count: int) -> None:
    if not result.trials and result.agent_errors:
        raise RuntimeError(f"sweep {state.sweep_id}: every agent failed: " + "; ".join(result.agent_errors))
    for error in result.agent_errors:
        say(f"wandb sweep {state.sweep_id}: {error}")
    if len(result.trials) < count and not result.agent_errors:
        say(
            f"wandb sweep {state.sweep_id}: {len(result.trials)} of count={count} trials ran: the search "
            "had no more parameter sets to suggest (a grid runs each combination once)."
        )
    run_dirs = [t.run_dir for t in result.trials if t.run_dir]
    with state.lock:
        state.run_dirs.extend(run_dirs)
    best = result.best
    say(
        f"wandb sweep {state.sweep_id}: done, {len(result.trials)} trials ({len(result.failed)} failed)"
        + (f", best {result.metric_name}={best.metric:.6g} ({best.run_id}, {best.params})" if best else "")
    )
    if state.report:
        await asyncio.to_thread(_write_report, state, result)
    if state.download_logs:
        result.logs = await collect_sweep_logs(state, run_dirs)


async def _run_sweep_agents(
    objective: Callable[..., Any],
    count: int,
    agents: int = 1,
    *,
    poll_interval: float = 2.0,
    idle_timeout: float = 600.0,
    agent_task: Any = None,
    engine: Any = None,
) -> SweepResult:
    """Run ``count`` trials of ``objective`` in a ``@wandb_sweep`` task, at most ``agents`` at a time; wait for them.

    Each trial is a Flyte action; a freed slot asks for the next, so the search learns from every finished
    trial, and a failing trial does not stop the sweep. Offline, a re-run runs only what is left of ``count``.

    Args:
        objective: A ``@wandb_init`` function without arguments, at module level (it reads
            ``get_wandb_run().config``), or a ``@wandb_init`` task called with the trial's parameters
            (a number it returns is the sweep metric).
        count: Total number of trials of the sweep.
        agents: Trials in flight at once, 1 to 20.
        poll_interval: Seconds between heartbeats to the W&B server while waiting (online).
        idle_timeout: An online slot that gets no trial for this long stops.
        agent_task: Another trial task for function objectives (e.g. ``wandb_sweep_agent.override(...)``).
        engine: What suggests offline trials. None: the definition's ``method``; ``"optuna"``: the bayes
            sampler; an Optuna sampler or an `OptunaEngine`; ``"wandb"``: W&B's own engine (an extra).

    Returns:
        A `SweepResult`: every trial's run id, parameters, state and metric, and the best trial.

    Raises:
        WandbConfigError: Before any trial starts, for bad arguments, an objective without ``@wandb_init``,
            a call outside a sweep task, or an unknown or uninstalled ``engine``.
    """
    return await _launch(objective, count, agents, poll_interval, idle_timeout, agent_task, engine)


class _Blocking(Generic[P, R]):  # a coroutine function called from sync code, with its async form as .aio(...)
    def __init__(self, aio: Callable[P, Coroutine[Any, Any, R]], name: str) -> None:
        self.aio = aio
        self._name = name
        functools.update_wrapper(self, aio)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError(f"{self._name}(...) blocks, and this is async code: use `await {self._name}.aio(...)`.")
        return asyncio.run(self.aio(*args, **kwargs))


run_sweep_agents = _Blocking(_run_sweep_agents, "run_sweep_agents")
"""Run a sweep as Flyte actions, ``agents`` at a time (``await run_sweep_agents.aio(...)`` when async)."""
