"""Deploying tracked environments: ``flyte.deploy`` serializes them, and their specs carry the W&B links.

``flyte.deploy(dry_run=True)`` runs for real. Flyte renders a task's links only on a real deploy (and at
run/child submission), from the templates ``{{.runName}}``/``{{.actionName}}`` the backend fills per
action; those specs are taken from the whole of ``flyte.deploy`` with only the final control-plane call
recorded (``cluster_deploy.deploy_recorded``). That the rendered template names the run the task then
really writes to is proven end to end in ``test_remote_mode.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cluster_deploy as cd
import cluster_pod
import cluster_tasks
import pytest

from flyteplugins.wandb import wandb_config
from flyteplugins.wandb_core._decorator import MARKER

pytestmark = pytest.mark.integration

TEMPLATE_ID = "{{.runName}}-{{.actionName}}"
TRACKED = ("parent", "child", "child_new", "solo", "selfhosted")


@pytest.fixture(scope="module")
def dry_run_specs() -> dict[str, Any]:
    return cd.dry_run(cluster_tasks.env)


@pytest.fixture(scope="module")
def deployed_specs() -> dict[str, Any]:
    return cd.deploy_recorded(cluster_tasks.env)


def test_dry_run_serializes_every_tracked_task(dry_run_specs: dict[str, Any]) -> None:
    assert set(dry_run_specs) == {f"cluster_it.{name}" for name in TRACKED}
    versions = {spec.task_template.id.version for spec in dry_run_specs.values()}
    # The version is a hash of the cloudpickled environments: every @wandb_init wrapper pickled.
    assert len(versions) == 1 and len(versions.pop()) == 32
    for name in TRACKED:
        spec = dry_run_specs[f"cluster_it.{name}"]
        args = list(spec.task_template.container.args)
        assert args[0] == "a0"
        assert args[-4:] == ["mod", "cluster_tasks", "instance", name], args
        assert spec.task_template.container.image == "registry.example.com/flyte-wandb:test"


def test_the_pod_resolver_loads_the_tracked_task(dry_run_specs: dict[str, Any]) -> None:
    from flyte._internal.resolvers.default import DefaultTaskResolver

    args = list(dry_run_specs["cluster_it.parent"].task_template.container.args)
    loader_args = args[args.index("flyte._internal.resolvers.default.DefaultTaskResolver") + 1 :]
    task = DefaultTaskResolver().load_task(loader_args)
    assert task is cluster_tasks.parent
    assert getattr(task.func, MARKER) == {"project": "cluster-it", "entity": "it", "config": {"lr": 0.1}}


def test_deployed_specs_carry_links_rendered_from_templates(deployed_specs: dict[str, Any]) -> None:
    assert cd.links(deployed_specs["cluster_it.parent"]) == [
        ("Weights & Biases", f"https://wandb.ai/it/cluster-it/runs/{TEMPLATE_ID}")
    ]
    assert cd.links(deployed_specs["cluster_it.solo"]) == [
        ("Weights & Biases", f"https://wandb.ai/it/cluster-it/runs/{TEMPLATE_ID}")
    ]
    # The backend fills the templates per action: the run the plugin opens is `{run_name}-{action_name}`.
    rendered = cluster_pod.render(cd.links(deployed_specs["cluster_it.solo"])[0][1], run_name="r1", action_name="a0")
    assert rendered == "https://wandb.ai/it/cluster-it/runs/r1-a0"


def test_deployed_links_name_a_self_hosted_server(deployed_specs: dict[str, Any]) -> None:
    assert cd.links(deployed_specs["cluster_it.selfhosted"]) == [
        ("Weights & Biases", f"https://wandb.acme.internal/research/vision/runs/{TEMPLATE_ID}")
    ]


def test_deployed_links_without_project_land_on_the_host(
    deployed_specs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # child/child_new set no project/entity: at deploy time there is no run context to take them from,
    # so W&B has no stable URL and the link lands on the host.
    assert cd.links(deployed_specs["cluster_it.child_new"]) == [("Weights & Biases", "https://wandb.ai")]
    # The deploying environment's WANDB_BASE_URL names the host.
    monkeypatch.setenv("WANDB_BASE_URL", "https://wandb.corp.example")
    specs = cd.deploy_recorded(cluster_tasks.env)
    assert cd.links(specs["cluster_it.solo"]) == [
        ("Weights & Biases", f"https://wandb.corp.example/it/cluster-it/runs/{TEMPLATE_ID}")
    ]
    assert cd.links(specs["cluster_it.child_new"]) == [("Weights & Biases", "https://wandb.corp.example")]


def test_run_submission_links_follow_the_runs_wandb_config() -> None:
    # `flyte.run(task)` against a cluster renders the spec with the run's custom_context (see flyte._run).
    cfg = wandb_config(project="exp", entity="team", host="https://wandb.team.example")
    spec = cluster_pod.serialize(cluster_tasks.child_new, cluster_pod.submit_context(cfg))
    assert cd.links(spec) == [("Weights & Biases", f"https://wandb.team.example/team/exp/runs/{TEMPLATE_ID}")]
    # The decorator's own values win over the run's.
    spec = cluster_pod.serialize(cluster_tasks.selfhosted, cluster_pod.submit_context(cfg))
    assert cd.links(spec) == [("Weights & Biases", f"https://wandb.acme.internal/research/vision/runs/{TEMPLATE_ID}")]


# ------------------------------------------------------------------------------------------------
# Sweeps
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sweeps() -> Any:
    return pytest.importorskip("flyteplugins.wandb_sweeps", reason="flyteplugins-wandb-sweeps is not installed")


def test_sweep_environment_deploys_with_its_link(sweeps: Any) -> None:
    import cluster_sweep_tasks

    specs = cd.dry_run(cluster_sweep_tasks.env)
    assert sorted(specs) == ["cluster_sweep.sweep", "cluster_sweep.sweep_default_agents"]
    assert list(specs["cluster_sweep.sweep"].task_template.container.args)[-4:] == [
        "mod",
        "cluster_sweep_tasks",
        "instance",
        "sweep",
    ]
    specs = cd.deploy_recorded(cluster_sweep_tasks.env)
    assert cd.links(specs["cluster_sweep.sweep"]) == [
        ("Weights & Biases Sweep", "https://wandb.ai/it/cluster-sweep/sweeps")
    ]


def test_sweep_agent_environment_deploys_from_the_installed_package(sweeps: Any) -> None:
    source_root = Path(sweeps.__file__).resolve().parents[2]
    specs = cd.dry_run(sweeps.sweep_agent_env, root_dir=source_root)
    (spec,) = specs.values()
    args = list(spec.task_template.container.args)
    assert args[-4:] == ["mod", "flyteplugins.wandb_sweeps._agent", "instance", "wandb_sweep_agent"]
    # No image of its own: the deploy's default image (`flyte deploy --image`, config `images.default`).
    assert spec.task_template.container.image == cd.DEFAULT_IMAGE
