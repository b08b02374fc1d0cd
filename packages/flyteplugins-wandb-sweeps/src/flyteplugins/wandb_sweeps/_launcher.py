"""``run_sweep_agents``: one call in a sweep task runs the whole sweep on parallel agent tasks."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flyteplugins.wandb_core._validate import WandbConfigError

from ._agent import (
    LAUNCHES,
    AgentSpec,
    Launch,
    objective_path,
    register_objective,
    unregister,
    wandb_sweep_agent,
)
from ._config import MAX_AGENTS
from ._engine import OfflineController, validate_sweep_config
from ._results import Progress, SweepResult, TrialResult
from ._sweep import SweepState, current_sweep

CORE_MARKER = "__flyteplugins_wandb__"


def _check_arguments(objective: Callable[..., Any], count: int, agents: int) -> None:
    if isinstance(agents, bool) or not isinstance(agents, int) or agents < 1:
        raise WandbConfigError(
            f"run_sweep_agents: agents must be an integer from 1 to {MAX_AGENTS}, got {agents!r}."
        )
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
    if not hasattr(objective, CORE_MARKER):
        raise WandbConfigError(
            f"run_sweep_agents: objective {getattr(objective, '__qualname__', objective)!r} must be "
            "decorated with @wandb_init, so that each trial gets its own W&B run whose config holds the "
            "trial's parameters (read them with get_wandb_run().config)."
        )


def _wandb_dir() -> Path:
    base = Path(os.environ.get("WANDB_DIR") or os.getcwd())
    return base / "wandb" if base.name != "wandb" else base


def _prior_offline_trials(state: SweepState) -> tuple[list[tuple[dict[str, Any], str, dict[str, Any]]], int]:
    """Finished trials of this sweep (and listed prior runs) on local disk, and the next free index."""
    root = _wandb_dir()
    if not root.is_dir():
        return [], 0
    from flyteplugins.wandb_core.testing import read_offline_run

    wanted_prior = set(state.prior_runs)
    prior: list[tuple[dict[str, Any], str, dict[str, Any]]] = []
    next_index = 0
    for run_dir in sorted(root.glob("offline-run-*")):
        run_id = run_dir.name.split("-", 3)[-1] if run_dir.name.count("-") >= 3 else ""
        is_trial = run_id.startswith(f"{state.sweep_id}-")
        if not is_trial and run_id not in wanted_prior:
            continue
        try:
            run = read_offline_run(run_dir)
        except (OSError, ValueError):
            continue
        if is_trial:
            suffix = run_id[len(state.sweep_id) + 1 :]
            if suffix.isdigit():
                next_index = max(next_index, int(suffix) + 1)
        if run.exit_code is None:
            continue
        trial_state = "finished" if run.exit_code == 0 else "failed"
        params = {k: v for k, v in run.config.items() if k in (state.config.get("parameters") or {})}
        prior.append((params, trial_state, run.summary))
    return prior, next_index


def _static_plan(controller: OfflineController, agents: int) -> list[list[dict[str, Any]]]:
    """Trials assigned up front, for agents that cannot reach the in-process controller."""
    plan: list[list[dict[str, Any]]] = [[] for _ in range(agents)]
    for i, a in enumerate(controller.suggest(controller.count)):
        plan[i % agents].append({"run_id": a.run_id, "params": a.params})
    return plan


def _agents_share_process() -> bool:
    """Flyte local mode runs child tasks in this process, where agents can call the controller directly."""
    import flyte

    ctx = flyte.ctx()
    return bool(ctx) and (getattr(ctx, "mode", "local") or "local") == "local"


async def _gather_agents(
    specs: list[AgentSpec], agent_task: Any
) -> list[tuple[list[TrialResult], str | None]]:
    async def one(spec: AgentSpec) -> tuple[list[TrialResult], str | None]:
        try:
            raw = await agent_task.aio(spec.to_json())
        except Exception as exc:
            return [], f"agent {spec.agent}: {type(exc).__name__}: {exc}"
        return [TrialResult.from_dict(d) for d in json.loads(raw)], None

    return list(await asyncio.gather(*(one(s) for s in specs)))


def _write_report(state: SweepState, result: SweepResult) -> None:
    """Put every trial launched so far in the task's W&B report tab (report=True tasks; never raises)."""
    from flyteplugins.wandb_core._report import report_sweep
    from flyteplugins.wandb_core._resolve import ui_host

    with state.lock:
        state.report_trials.extend(result.trials)
        trials = list(state.report_trials)
    base = None
    if state.entity and state.project:
        base = f"{ui_host(state.host, os.environ.get('WANDB_BASE_URL'))}/{state.entity}/{state.project}"
    sweep_url = f"{base}/sweeps/{state.sweep_id}" if base and state.mode == "online" else None
    report_sweep(
        trials, result.metric_name, result.goal, sweep_id=state.sweep_id, sweep_url=sweep_url, runs_url=base
    )


async def _launch(
    objective: Callable[..., Any],
    count: int,
    agents: int,
    poll_interval: float,
    idle_timeout: float,
    agent_task: Any,
) -> SweepResult:
    _check_arguments(objective, count, agents)
    state = current_sweep()
    if state is None:
        raise WandbConfigError(
            "run_sweep_agents must be called inside a @wandb_sweep task (or a child task of one): it "
            "needs the sweep that @wandb_sweep creates. Decorate the calling task with @wandb_sweep "
            "(above @env.task)."
        )
    in_process = _agents_share_process()
    metric = state.config.get("metric") or {}
    metric_name: str | None = metric.get("name")
    goal = metric.get("goal") or "minimize"
    token = uuid.uuid4().hex
    progress = Progress(state.sweep_id, count, metric_name, goal)
    launch = Launch(progress=progress, budget=count)
    base = dict(
        launch=token,
        sweep_id=state.sweep_id,
        mode=state.mode,
        objective=objective_path(objective),
        project=state.project,
        entity=state.entity,
        host=state.host,
        metric_name=metric_name,
        goal=goal,
        total=count,
        poll_interval=poll_interval,
        idle_timeout=idle_timeout,
    )
    quotas = [count // agents + (1 if i < count % agents else 0) for i in range(agents)]
    specs: list[AgentSpec]
    if state.mode == "online":
        specs = [AgentSpec(agent=i, quota=quotas[i], **base) for i in range(agents)]  # type: ignore[arg-type]
    else:
        config = await asyncio.to_thread(validate_sweep_config, state.config)
        prior, first_index = await asyncio.to_thread(_prior_offline_trials, state)
        controller = await asyncio.to_thread(
            OfflineController, config, state.sweep_id, count, prior, first_index
        )
        if in_process:
            launch.controller = controller
            specs = [AgentSpec(agent=i, quota=quotas[i], **base) for i in range(agents)]  # type: ignore[arg-type]
        else:
            # Agents in other pods cannot call back into this task: hand out the trials up front
            # (for bayes this means the search only learns from earlier launches).
            if "<locals>" in objective.__qualname__:
                raise WandbConfigError(
                    f"run_sweep_agents: agents in other pods import the objective by name, but "
                    f"{objective.__qualname__!r} is defined inside a function; define it at module level."
                )
            plan = await asyncio.to_thread(_static_plan, controller, agents)
            specs = [
                AgentSpec(agent=i, quota=len(p), assignments=p, **base)  # type: ignore[arg-type]
                for i, p in enumerate(plan)
                if p
            ]
    # Agents in this process use the function object itself; agents elsewhere import it by path.
    register_objective(token, objective)
    if in_process:
        LAUNCHES[token] = launch
    print(
        f"wandb sweep {state.sweep_id} ({state.mode}, {state.config.get('method')}): {count} trials on "
        f"{len(specs)} agent task(s)",
        file=sys.stderr,
        flush=True,
    )
    try:
        if agent_task is None:
            agent_task = (
                wandb_sweep_agent.override(secrets=state.secrets) if state.secrets else wandb_sweep_agent
            )
        outcomes = await _gather_agents(specs, agent_task)
    finally:
        unregister(token)
    result = SweepResult(
        sweep_id=state.sweep_id,
        mode=state.mode,
        metric_name=metric_name,
        goal=goal,
        name=state.name or state.config.get("name"),
        agents=len(specs),
    )
    for trials, error in outcomes:
        result.trials.extend(trials)
        if error:
            result.agent_errors.append(error)
    if in_process and len(launch.results) == len(result.trials):
        result.trials = list(launch.results)  # the order they finished in
    if not result.trials and result.agent_errors:
        raise RuntimeError(f"sweep {state.sweep_id}: every agent failed: " + "; ".join(result.agent_errors))
    for error in result.agent_errors:
        print(f"wandb sweep {state.sweep_id}: {error}", file=sys.stderr, flush=True)
    with state.lock:
        state.run_dirs.extend(t.run_dir for t in result.trials if t.run_dir)
    best = result.best
    print(
        f"wandb sweep {state.sweep_id}: done, {len(result.trials)} trials ({len(result.failed)} failed)"
        + (f", best {metric_name}={best.metric:.6g} ({best.run_id}, {best.params})" if best else ""),
        file=sys.stderr,
        flush=True,
    )
    if state.report:
        await asyncio.to_thread(_write_report, state, result)
    if state.download_logs:
        from ._download import collect_sweep_logs

        result.logs = await collect_sweep_logs(state, [t.run_dir for t in result.trials if t.run_dir])
    return result


class _RunSweepAgents:
    """``run_sweep_agents(...)`` in sync tasks, ``await run_sweep_agents.aio(...)`` in async ones."""

    def __call__(
        self,
        objective: Callable[..., Any],
        count: int,
        agents: int = 1,
        *,
        poll_interval: float = 2.0,
        idle_timeout: float = 600.0,
        agent_task: Any = None,
    ) -> SweepResult:
        """Run ``count`` trials of ``objective`` on ``agents`` parallel Flyte agent tasks; wait for them.

        Call it inside a ``@wandb_sweep`` task. Each agent is a child task that runs trials one after
        another until ``count`` trials are done in total (or a grid is exhausted). Each trial calls
        ``objective()``, which must be decorated with ``@wandb_init``: it opens the trial's own W&B
        run, whose ``config`` holds the trial's parameters (``get_wandb_run().config``). Log the sweep
        metric with ``get_wandb_run().log(...)``. A trial that raises is recorded as failed and the
        sweep goes on. A line per finished trial, with the best value so far, goes to stderr.

        Online, the W&B server is the controller. Offline (no API key, or ``mode="offline"``), a
        controller in the sweep task suggests the trials with W&B's open-source ``sweeps`` engine
        (grid, random, bayes, hyperband early termination); each trial is an offline W&B run in
        group ``sweep_id``, ready for ``wandb sync``.

        Args:
            objective: A ``@wandb_init``-decorated function taking no arguments (sync or async),
                defined at module level so remote agents can import it.
            count: Total number of trials across all agents.
            agents: Number of parallel agent tasks, 1 to 20.
            poll_interval: Seconds between heartbeats to the W&B server while waiting (online).
            idle_timeout: An online agent that gets no trial for this long stops.
            agent_task: Another agent task to launch instead of the built-in one (e.g. an
                ``.override(resources=...)`` of ``wandb_sweep_agent``).

        Returns:
            A :class:`SweepResult`: every trial's run id, parameters, state and metric, and the best trial.

        Raises:
            WandbConfigError: Before any agent starts, for ``agents`` above 20 or below 1, a bad
                ``count``, an objective without ``@wandb_init``, or a call outside a sweep task.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError(
                "run_sweep_agents(...) blocks, and this is async code: use `await run_sweep_agents.aio(...)`."
            )
        return asyncio.run(
            self.aio(
                objective,
                count,
                agents,
                poll_interval=poll_interval,
                idle_timeout=idle_timeout,
                agent_task=agent_task,
            )
        )

    async def aio(
        self,
        objective: Callable[..., Any],
        count: int,
        agents: int = 1,
        *,
        poll_interval: float = 2.0,
        idle_timeout: float = 600.0,
        agent_task: Any = None,
    ) -> SweepResult:
        """Async form of :func:`run_sweep_agents` (same arguments)."""
        return await _launch(objective, count, agents, poll_interval, idle_timeout, agent_task)


run_sweep_agents = _RunSweepAgents()
"""Run a sweep's trials on parallel Flyte agent tasks (``await run_sweep_agents.aio(...)`` in async tasks)."""
