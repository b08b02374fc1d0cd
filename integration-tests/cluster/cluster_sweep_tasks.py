"""A sweep environment as it is deployed (needs flyteplugins-wandb-sweeps)."""

from __future__ import annotations

import json

import flyte

from flyteplugins.wandb import get_wandb_run, run_sweep_agents, wandb_init, wandb_sweep
from flyteplugins.wandb_sweeps import wandb_sweep_agent

# A deployment lists the agents' environment too: `depends_on=[sweep_agent_env]` (docs/deploy.md). Not
# here: this workspace installs the sweeps package editable, from a source tree that Flyte's resolver
# accepts only as the deploy's root directory (an installed wheel lives in site-packages, which it
# accepts anywhere), so the tests deploy `sweep_agent_env` on its own with that root.
SECRET = flyte.Secret(key="wandb_api_key", as_env_var="WANDB_API_KEY")
env = flyte.TaskEnvironment(name="cluster_sweep", image="registry.example.com/flyte-wandb:test", secrets=[SECRET])


@wandb_init
def objective() -> None:
    run = get_wandb_run()
    run.log({"loss": (run.config["x"] - 1.0) ** 2})


@wandb_sweep(
    project="cluster-sweep",
    entity="it",
    method="random",
    metric={"name": "loss", "goal": "minimize"},
    parameters={"x": {"min": -2.0, "max": 2.0}},
)
@env.task
def sweep() -> str:
    # The agents' environment has no secret of its own: give their pods the key.
    agent = wandb_sweep_agent.override(secrets=[SECRET])
    result = run_sweep_agents(objective, count=4, agents=2, agent_task=agent)
    return json.dumps({"trials": len(result.trials), "best": result.best.params if result.best else None})


@wandb_sweep(
    project="cluster-sweep",
    entity="it",
    method="random",
    metric={"name": "loss", "goal": "minimize"},
    parameters={"x": {"min": -2.0, "max": 2.0}},
)
@env.task
def sweep_default_agents() -> str:
    """The same sweep with the built-in agent task as it is (no secret of its own)."""
    result = run_sweep_agents(objective, count=2, agents=1)
    return json.dumps({"trials": len(result.trials)})
