"""wandb's private sweep-agent API (no public call), each with its older spelling as fallback (tests/test_compat)."""

from typing import Any


def register_sweep_agent(
    api: Any, host: str, *, sweep_id: str, project: str | None, entity: str | None
) -> dict[str, Any] | None:  # the server's record (with id) of a new sweep agent; checked: wandb 0.28.2 .. 0.31.0
    try:
        from wandb.apis.public.sweeps import _register_agent
    except ImportError:
        from wandb.apis import InternalApi

        agent = InternalApi().register_agent(host, sweep_id=sweep_id, project_name=project, entity=entity)
    else:
        agent = _register_agent(api, host, sweep_id=sweep_id, project=project, entity=entity)
    return dict(agent) if agent else None


def sweep_agent_heartbeat(api: Any, agent_id: str, running: dict[str, bool]) -> list[dict[str, Any]]:
    """Report the agent's running trials, get the server controller's commands; checked: wandb 0.28.2 .. 0.31.0."""
    try:
        from wandb.apis.public.sweeps import _agent_heartbeat
    except ImportError:
        from wandb.apis import InternalApi

        commands = InternalApi().agent_heartbeat(agent_id, {}, running)
    else:
        commands = _agent_heartbeat(api, agent_id, {}, running)
    return list(commands or [])
