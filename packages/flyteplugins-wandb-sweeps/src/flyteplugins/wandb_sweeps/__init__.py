"""W&B sweeps for Flyte 2 (``flyteplugins-wandb[sweeps]``): agents as parallel Flyte tasks (docs/sweeps.md)."""

from ._agent import TrialStopped, sweep_agent_env, wandb_sweep_agent
from ._config import WandbSweep, WandbSweepConfig, get_wandb_sweep_context, wandb_sweep_config
from ._engine import OptunaEngine
from ._launcher import run_sweep_agents
from ._results import SweepResult, TrialResult
from ._sweep import get_wandb_sweep_id, wandb_sweep

__all__ = [
    "OptunaEngine",
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
