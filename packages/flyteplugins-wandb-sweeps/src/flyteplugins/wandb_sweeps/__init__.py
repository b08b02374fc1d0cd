"""W&B sweeps for Flyte 2: agents as parallel Flyte tasks, online or fully offline.

Installed by ``pip install 'flyteplugins-wandb[sweeps]'``; every name is also importable from
``flyteplugins.wandb``::

    from flyteplugins.wandb_core import get_wandb_run, run_sweep_agents, wandb_init, wandb_sweep
    from flyteplugins.wandb_core import wandb_sweep_config

    @wandb_init
    def objective():
        run = get_wandb_run()
        run.log({"loss": (run.config.x - 2) ** 2})

    @wandb_sweep
    @env.task
    def sweep() -> str:
        result = run_sweep_agents(objective, count=20, agents=4)
        return str(result.best.params)

    flyte.with_runcontext(custom_context=wandb_sweep_config(
        method="bayes",
        metric={"name": "loss", "goal": "minimize"},
        parameters={"x": {"min": -5.0, "max": 5.0}},
    )).run(sweep)

Every trial is a Flyte action of its own, at most ``agents`` at a time, driven by a controller loop
in the sweep task. With an API key the W&B server is the sweep controller. Without one (or with
``mode="offline"``) the same configuration runs air-gapped: the sweep task is the controller (grid
and random in pure Python, bayes and hyperband on Optuna, or the engine passed as
``run_sweep_agents(..., engine=...)``), learning from every finished trial, and every trial is an
offline run, grouped under the sweep, for ``wandb sync``.
"""

from __future__ import annotations

from ._agent import AgentSpec, sweep_agent_env, wandb_sweep_agent
from ._config import MAX_AGENTS, SweepMethod, WandbSweepConfig, get_wandb_sweep_context, wandb_sweep_config
from ._launcher import run_sweep_agents
from ._link import WandbSweep
from ._optuna import OptunaEngine
from ._results import SweepResult, TrialResult
from ._sweep import get_wandb_sweep_id, wandb_sweep
from ._trial import TrialStopped

__all__ = [
    "MAX_AGENTS",
    "AgentSpec",
    "OptunaEngine",
    "SweepMethod",
    "SweepResult",
    "TrialResult",
    "TrialStopped",
    "WandbSweep",
    "WandbSweepConfig",
    "get_wandb_sweep_context",
    "get_wandb_sweep_id",
    "run_sweep_agents",
    "sweep_agent_env",
    "wandb_sweep",
    "wandb_sweep_agent",
    "wandb_sweep_config",
]
