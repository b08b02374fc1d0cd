"""Remote mode online: parent and child pods share one W&B run through W&B shared mode.

The same tasks as ``test_remote_mode.py``, against the loopback W&B server. The key reaches the pods
only as the injected secret; ``WANDB_BASE_URL`` in the node environment stands in for W&B cloud.
In non-local mode the root task opens its run as the shared-mode primary (labelled with its action
name); a child pod with ``run_mode="auto"`` receives the run id in its ``custom_context`` and joins
as a secondary (``x_primary=False``, ``x_update_finish_state=False``, labelled with its action name),
so only the parent finishes the run.

The node environment injects a control-plane endpoint (``_U_EP_OVERRIDE``) as the platform does, so
each pod's ``flyte.init`` has a client (never contacted): every run links back to its Flyte action
with the URL Flyte's own console builder gives.
"""

from __future__ import annotations

import os

import cluster_pod
import cluster_tasks as ct
import pytest

from flyteplugins.wandb import wandb_config

LoopbackServer = pytest.importorskip(
    "wandb_loopback", reason="the loopback W&B server needs graphql-core"
).LoopbackServer

pytestmark = pytest.mark.integration

RUN = "rm-online"
CONFIG = wandb_config(project=ct.PROJECT, entity=ct.ENTITY, tags=["cluster"])
# A closed port: a client and URLs are built from it, but nothing connects.
ENDPOINT = "dns:///127.0.0.1:30081"


@pytest.fixture(scope="module")
def online_run(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("remote-online")
    with LoopbackServer() as server:
        server_env = server.env()
        key = server_env.pop("WANDB_API_KEY")
        with cluster_pod.isolated_env(root, _U_EP_OVERRIDE=ENDPOINT, **server_env):
            result = cluster_pod.run_root(
                ct.parent, 2, run_name=RUN, base_dir=root / "run", custom_context=CONFIG, secrets={"wandb_api_key": key}
            )
        assert result.error is None, result.error
        yield result, server, key


def _by_label(result: cluster_pod.RunResult) -> dict[str, dict]:
    return {o["label"]: o for o in result.observations().values()}


def test_the_key_reached_every_pod_only_as_the_secret(online_run) -> None:  # type: ignore[no-untyped-def]
    result, _, key = online_run
    obs = _by_label(result)
    assert {o["has_key"] for o in obs.values()} == {True}
    assert {o["offline"] for o in obs.values()} == {False}
    assert "WANDB_API_KEY" not in os.environ or os.environ["WANDB_API_KEY"] != key
    for pod in result.pods():
        assert key not in " ".join(pod["cmd"])
    for o in obs.values():
        assert key not in str(o["custom_context"])


def test_root_pod_opens_the_run_as_shared_primary(online_run) -> None:  # type: ignore[no-untyped-def]
    result, _, _ = online_run
    parent = _by_label(result)["parent"]
    assert parent["mode"] == "remote"
    assert parent["run_id"] == f"{RUN}-a0"
    assert (parent["wandb_mode"], parent["x_primary"], parent["x_label"]) == ("shared", True, "a0")


def test_child_pod_joins_as_labelled_secondary(online_run) -> None:  # type: ignore[no-untyped-def]
    result, _, _ = online_run
    obs = _by_label(result)
    child, parent = obs["child"], obs["parent"]
    assert child["pid"] != parent["pid"]
    assert child["run_id"] == parent["run_id"]
    assert child["custom_context"]["_wandb_run_offline"] == "false"
    assert (child["wandb_mode"], child["x_primary"], child["x_update_finish_state"]) == ("shared", False, False)
    assert child["x_label"] == child["action"] != "a0"


def test_server_holds_one_run_written_by_both_pods(online_run) -> None:  # type: ignore[no-untyped-def]
    _, server, _ = online_run
    run = server.run(f"{RUN}-a0", project=ct.PROJECT)
    assert run.entity == ct.ENTITY
    assert run.metric("parent/start") == [1] and run.metric("parent/end") == [1]
    assert run.metric("child/loss") == [1.0, 0.5]
    assert run.config["lr"] == 0.1
    assert run.summary["child_done"] is True
    assert len(run.writers) == 2
    # Only the primary (the parent) finished the run, after the child was done.
    assert run.state == "finished" and run.exit_code == 0
    assert run.finish_count == 1


def test_new_child_pod_has_its_own_online_run(online_run) -> None:  # type: ignore[no-untyped-def]
    result, server, _ = online_run
    own = _by_label(result)["child_new"]
    assert own["run_id"] == f"{RUN}-{own['action']}"
    assert (own["wandb_mode"], own["x_primary"], own["x_label"]) == ("shared", True, own["action"])
    run = server.run(own["run_id"], project=ct.PROJECT)
    assert run.metric("own/metric") == [2.0] and run.tags == ["cluster"]
    assert run.state == "finished" and run.exit_code == 0


def test_links_name_the_runs_on_the_server(online_run) -> None:  # type: ignore[no-untyped-def]
    result, server, _ = online_run
    obs = _by_label(result)
    for label in ("parent", "child", "child_new"):
        action = obs[label]["action"]
        (link,) = result.pod(action)["links"]
        url = cluster_pod.render(link[1], run_name=RUN, action_name=action)
        # The node's WANDB_BASE_URL is the host: the links point at the server the runs are on.
        assert url == f"{server.url}/{ct.ENTITY}/{ct.PROJECT}/runs/{obs[label]['run_id']}", label


def flytes_own_url(action: str) -> str:
    """What ``flyte.remote.Run.url`` / the console builds for this action, from Flyte's own class."""
    from flyte.remote._client.controlplane import Console

    return Console(ENDPOINT, insecure=True).action_url(cluster_pod.PROJECT, cluster_pod.DOMAIN, RUN, action)


def test_the_parent_run_carries_its_action_and_console_url(online_run) -> None:  # type: ignore[no-untyped-def]
    _, server, _ = online_run
    run = server.run(f"{RUN}-a0", project=ct.PROJECT)
    url = flytes_own_url("a0")
    assert url.startswith("http://127.0.0.1:30081/") and url.endswith("?i=a0")
    # The `auto` child joined this run from its own pod as a shared-mode secondary: the identity
    # stays the parent's.
    assert run.config["flyte"] == {
        "project": cluster_pod.PROJECT,
        "domain": cluster_pod.DOMAIN,
        "run_name": RUN,
        "action_name": "a0",
        "task_name": "cluster_it.parent",
        "attempt": 0,
        "mode": "remote",
        "url": url,
    }
    assert (run.display_name, run.job_type) == ("parent-a0", "cluster_it.parent")
    assert run.notes == f"Flyte cluster_it.parent, action a0 of Flyte run {RUN}: {url}"
    assert run.tags == ["cluster"]  # the user's tags, untouched


def test_the_new_child_run_links_to_its_own_action(online_run) -> None:  # type: ignore[no-untyped-def]
    result, server, _ = online_run
    own = _by_label(result)["child_new"]
    run = server.run(own["run_id"], project=ct.PROJECT)
    block = run.config["flyte"]
    assert (block["action_name"], block["task_name"]) == (own["action"], "cluster_it.child_new")
    assert block["url"] == flytes_own_url(own["action"]) != flytes_own_url("a0")
    assert (run.display_name, run.job_type) == (f"child_new-{own['action']}", "cluster_it.child_new")
