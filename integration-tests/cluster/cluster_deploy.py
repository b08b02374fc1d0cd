"""``flyte.deploy`` on this machine: the dry run as is, and the full deploy with the control plane recorded.

``flyte.deploy(..., dry_run=True)`` serializes every task but, by design of Flyte, renders no links
(its dry-run branch calls ``translate_task_to_wire`` without a task context). The full deploy renders
them from the templates ``{{.runName}}``/``{{.actionName}}``; it needs a control plane, so
:func:`deploy_recorded` runs the whole of ``flyte.deploy`` and replaces only the final network call
(``task_service.deploy_task``) with a recorder of the requests it would have sent.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PROJECT, DOMAIN, ORG = "flytesnacks", "development", "testorg"


# What `flyte deploy --image ...` / the config's `images: {default: ...}` set: environments without an
# image of their own (image="auto", e.g. the sweep agents' environment) use it instead of a build.
DEFAULT_IMAGE = "registry.example.com/flyte-wandb:test"


@contextlib.contextmanager
def cluster_client(root_dir: Path = HERE) -> Iterator[None]:
    """``flyte.init`` as for a deploy (a client for an endpoint nothing listens on), restored after."""
    import flyte

    # Creating the client does not connect; only the calls that reach the control plane would.
    flyte.init(
        endpoint="dns:///127.0.0.1:9",
        insecure=True,
        root_dir=root_dir,
        project=PROJECT,
        domain=DOMAIN,
        org=ORG,
        images={"default": DEFAULT_IMAGE},
    )
    try:
        yield
    finally:
        flyte.init()


def dry_run(*envs: Any, root_dir: Path = HERE) -> dict[str, Any]:
    """``flyte.deploy(*envs, dry_run=True)``: task name -> serialized TaskSpec."""
    import flyte

    with cluster_client(root_dir):
        deployments = flyte.deploy(*envs, dry_run=True)
    return {
        task.deployed_task.task_template.id.name: task.deployed_task
        for deployment in deployments
        for env in deployment.envs.values()
        for task in env.deployed_entities
    }


class _RecordingTaskService:
    def __init__(self) -> None:
        self.requests: list[Any] = []

    async def deploy_task(self, request: Any) -> None:
        self.requests.append(request)


class _RecordingClient:
    def __init__(self) -> None:
        self.task_service = _RecordingTaskService()


def deploy_recorded(*envs: Any, version: str = "v1", root_dir: Path = HERE) -> dict[str, Any]:
    """The full ``flyte.deploy`` (links rendered); task name -> the TaskSpec it would have sent.

    ``copy_style="none"`` with an explicit version skips the code-bundle upload (a control-plane call),
    exactly as ``flyte deploy --copy-style none --version v1`` does.
    """
    import flyte
    import flyte._deploy as flyte_deploy

    client = _RecordingClient()
    with cluster_client(root_dir):
        original = flyte_deploy.get_client
        flyte_deploy.get_client = lambda: client  # type: ignore[assignment]
        try:
            flyte.deploy(*envs, version=version, copy_style="none")
        finally:
            flyte_deploy.get_client = original  # type: ignore[assignment]
    return {r.task_id.name: r.spec for r in client.task_service.requests}


def links(spec: Any) -> list[tuple[str, str]]:
    return [(log.name, log.uri) for log in spec.task_template.metadata.log_links]
