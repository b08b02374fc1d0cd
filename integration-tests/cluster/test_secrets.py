"""The W&B key on a cluster: ``flyte.Secret(key=..., as_env_var="WANDB_API_KEY")`` is the whole setup.

Pods here start with no key at all (``cluster_pod`` never passes the test process's ``WANDB_API_KEY``
on, and HOME has no ``~/.netrc``); the fake platform injects each env-var secret of the serialized
spec from its secret store, as Flyte does on a cluster. The example ``examples/secrets_on_cluster.py``
is what runs.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import cluster_pod
import cluster_tasks as ct
import pytest

from flyteplugins.wandb import wandb_config
from flyteplugins.wandb.testing import read_offline_runs

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
sys.path.insert(0, str(EXAMPLES))

import secrets_on_cluster as example  # noqa: E402

pytestmark = pytest.mark.integration
ENV_VAR_MOUNT = 1  # flyteidl SecretMountType.ENV_VAR


def test_the_spec_asks_for_the_secret_as_wandb_api_key() -> None:
    for task in (example.train, example.evaluate):
        spec = cluster_pod.serialize(task, cluster_pod.submit_context({}))
        secrets = [(s.key, s.mount_requirement, s.env_var) for s in spec.task_template.security_context.secrets]
        assert secrets == [("wandb_api_key", ENV_VAR_MOUNT, "WANDB_API_KEY")]
        # Nothing else W&B-related is configured on the pod.
        assert not [kv.key for kv in spec.task_template.container.env if kv.key.startswith("WANDB")]


def test_the_image_installs_the_plugin() -> None:
    packages = [pkg for layer in example.image._layers for pkg in getattr(layer, "packages", None) or ()]
    assert "flyteplugins-wandb" in packages


def test_without_the_secret_pods_track_offline(isolated_wandb: Path) -> None:
    result = cluster_pod.run_root(example.train, 3, run_name="sec-none", base_dir=isolated_wandb / "run")
    assert result.error is None, result.error
    assert result.value == 0.875
    parts = [r for r in read_offline_runs(isolated_wandb / "wandb") if r.id == "sec-none-a0"]
    # The parent's pod and the child's pod each wrote their part of the one run.
    assert len(parts) == 2
    assert sorted(len(p.metric("train/loss")) for p in parts) == [0, 3]
    assert sorted(len(p.metric("eval/accuracy")) for p in parts) == [0, 1]
    assert "wandb sync" in (result.root.out_dir / "pod.log").read_text()


def test_online_required_without_the_secret_fails_before_the_task_runs(isolated_wandb: Path) -> None:
    strict = wandb_config(mode="online", on_error="raise")
    result = cluster_pod.run_root(
        ct.solo, 1, run_name="sec-strict", base_dir=isolated_wandb / "run", custom_context=strict
    )
    assert getattr(result.error, "code", None) == "WandbTrackingError", repr(result.error)
    assert "wandb.init failed for run 'sec-strict-a0': No API key configured" in str(result.error), result.error
    assert not list((isolated_wandb / "run").glob("obs-*.json")), "the task body must not have run"


def test_with_the_secret_pods_track_online(isolated_wandb: Path, wandb_server) -> None:  # type: ignore[no-untyped-def]
    # The fixture put the key in this process's environment; pods never inherit it (see cluster_pod):
    # it reaches them only through the secret store, as the secret `wandb_api_key`.
    key = os.environ["WANDB_API_KEY"]
    result = cluster_pod.run_root(
        example.train,
        3,
        run_name="sec-online",
        base_dir=isolated_wandb / "run",
        custom_context=wandb_config(tags=["cluster"]),
        secrets={"wandb_api_key": key},
    )
    assert result.error is None, result.error
    run = wandb_server.run("sec-online-a0", project="flyte-cluster")
    assert run.metric("train/loss") == [0.5, 0.25, 0.125]
    assert run.metric("eval/accuracy") == [0.875]  # logged from the child's pod, into the parent's run
    assert run.config["optimizer"] == "sgd" and run.tags == ["cluster"]
    assert run.state == "finished" and run.exit_code == 0
    assert not list((isolated_wandb / "wandb").glob("offline-run-*"))
    # The key is in none of what Flyte stores or shows: specs, the run config, the pods' command lines.
    spec = cluster_pod.serialize(example.train, cluster_pod.submit_context(wandb_config(tags=["cluster"])))
    assert key.encode() not in spec.SerializeToString()
    assert key not in json.dumps(run.raw_config)
    assert all(key not in " ".join(pod["cmd"]) for pod in result.pods())
