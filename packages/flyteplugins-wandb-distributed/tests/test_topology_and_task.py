"""Topology detection from torchrun's variables, Elastic links and decoration-time checks."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

import pytest

from flyteplugins.wandb_core import Wandb, WandbConfigError
from flyteplugins.wandb_distributed import (
    check_task,
    detect_topology,
    elastic_shape,
    get_distributed_info,
    links_for_task,
)


def torchrun_env(rank: int, nodes: int, procs: int, **extra: str) -> dict[str, str]:
    return {
        "RANK": str(rank),
        "WORLD_SIZE": str(nodes * procs),
        "LOCAL_RANK": str(rank % procs),
        "LOCAL_WORLD_SIZE": str(procs),
        "GROUP_RANK": str(rank // procs),
        **extra,
    }


@pytest.mark.parametrize("env", [{}, {"WORLD_SIZE": "1", "RANK": "0"}, {"WORLD_SIZE": "4"}, {"RANK": "0"}])
def test_not_distributed(env: dict[str, str]) -> None:
    assert detect_topology(env) is None


def test_multi_node_topology() -> None:
    t = detect_topology(torchrun_env(3, 2, 2))
    assert t is not None
    assert (t.rank, t.local_rank, t.world_size, t.local_world_size, t.worker_index, t.num_workers) == (3, 1, 4, 2, 1, 2)
    assert t.multi_node


def test_single_node_topology_defaults() -> None:
    t = detect_topology({"RANK": "2", "WORLD_SIZE": "4"})
    assert t is not None
    assert (t.local_rank, t.local_world_size, t.worker_index, t.num_workers) == (0, 4, 0, 1)
    assert not t.multi_node


def test_worker_index_defaults_from_rank_and_group_world_size_wins() -> None:
    env = torchrun_env(5, 3, 2)
    del env["GROUP_RANK"]
    t = detect_topology(env)
    assert t is not None and t.worker_index == 2 and t.num_workers == 3
    t = detect_topology(torchrun_env(1, 2, 2, GROUP_WORLD_SIZE="2"))
    assert t is not None and t.num_workers == 2


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RANK": "x", "WORLD_SIZE": "4"}, "RANK='x' is not an integer"),
        ({"RANK": "0", "WORLD_SIZE": "4", "LOCAL_RANK": "one"}, "LOCAL_RANK='one' is not an integer"),
        ({"RANK": "4", "WORLD_SIZE": "4"}, "RANK=4 is outside"),
        ({"RANK": "0", "WORLD_SIZE": "4", "LOCAL_WORLD_SIZE": "8"}, "LOCAL_WORLD_SIZE=8"),
        ({"RANK": "0", "WORLD_SIZE": "4", "LOCAL_WORLD_SIZE": "2", "LOCAL_RANK": "2"}, "LOCAL_RANK=2"),
        ({**torchrun_env(0, 2, 2), "GROUP_RANK": "5"}, "GROUP_RANK=5"),
    ],
)
def test_bad_variables_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(WandbConfigError, match=message):
        detect_topology(env)


def test_get_distributed_info(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "GROUP_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert get_distributed_info() is None
    for key, value in torchrun_env(2, 2, 2).items():
        monkeypatch.setenv(key, value)
    assert get_distributed_info() == {
        "rank": 2,
        "local_rank": 0,
        "world_size": 4,
        "local_world_size": 2,
        "worker_index": 1,
        "num_workers": 2,
    }
    # The core package forwards the name.
    import flyteplugins.wandb_core as core

    assert core.get_distributed_info() == get_distributed_info()


# ------------------------------------------------------------------------------------------------
# Elastic tasks. flyteplugins-pytorch is not a dependency: its config is read by attribute, which a
# stand-in with the same class name and fields exercises (the real class is used by the torchrun
# integration tests).
# ------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Elastic:
    nnodes: Any
    nproc_per_node: Any


def elastic_task(nnodes: Any, nproc: Any, func: Any = None) -> Any:
    def train() -> None: ...

    return SimpleNamespace(name="train", plugin_config=Elastic(nnodes, nproc), func=func or train)


LINK_ARGS = {"host": None, "project": "p", "entity": "e", "run_mode": "auto", "rank_scope": "global", "id": None}


def urls(links: list[Wandb]) -> list[str]:
    return [
        link.get_link(
            run_name="myrun",
            project="fp",
            domain="dev",
            context={},
            parent_action_name="",
            action_name="a0",
            pod_name="pod",
        )
        for link in links
    ]


@pytest.mark.parametrize(
    ("nnodes", "nproc", "run_mode", "rank_scope", "want"),
    [
        (2, 2, "auto", "global", ["https://wandb.ai/e/p/runs/myrun-a0"]),
        (
            2,
            2,
            "auto",
            "worker",
            ["https://wandb.ai/e/p/runs/myrun-a0-worker-0", "https://wandb.ai/e/p/runs/myrun-a0-worker-1"],
        ),
        (
            2,
            2,
            "shared",
            "worker",
            ["https://wandb.ai/e/p/runs/myrun-a0-worker-0", "https://wandb.ai/e/p/runs/myrun-a0-worker-1"],
        ),
        (2, 2, "new", "global", ["https://wandb.ai/e/p/groups/myrun-a0"]),
        (
            2,
            2,
            "new",
            "worker",
            ["https://wandb.ai/e/p/groups/myrun-a0-worker-0", "https://wandb.ai/e/p/groups/myrun-a0-worker-1"],
        ),
        ("1:3", 2, "auto", "worker", [f"https://wandb.ai/e/p/runs/myrun-a0-worker-{i}" for i in range(3)]),
        (1, 4, "new", "worker", ["https://wandb.ai/e/p/groups/myrun-a0"]),
        (1, 4, "auto", "worker", ["https://wandb.ai/e/p/runs/myrun-a0"]),
        (1, 1, "new", "global", ["https://wandb.ai/e/p/runs/myrun-a0"]),
    ],
)
def test_links(nnodes: Any, nproc: int, run_mode: str, rank_scope: str, want: list[str]) -> None:
    args = {**LINK_ARGS, "run_mode": run_mode, "rank_scope": rank_scope}
    links = list(links_for_task(elastic_task(nnodes, nproc), args, {}))
    assert all(isinstance(link, Wandb) for link in links)
    assert urls(links) == want
    if len(links) > 1:
        assert [link.name for link in links] == [f"Weights & Biases Worker {i}" for i in range(len(links))]


def test_links_follow_a_user_id() -> None:
    links = list(links_for_task(elastic_task(2, 2), {**LINK_ARGS, "rank_scope": "worker", "id": "mine"}, {}))
    assert urls(links) == ["https://wandb.ai/e/p/runs/mine-worker-0", "https://wandb.ai/e/p/runs/mine-worker-1"]


@pytest.mark.parametrize(("nnodes", "nproc", "want"), [(2, 4, (2, 4)), ("2:4", "3", (4, 3)), ("3", 1, (3, 1))])
def test_elastic_shape(nnodes: Any, nproc: Any, want: tuple[int, int]) -> None:
    assert elastic_shape(elastic_task(nnodes, nproc)) == want


@pytest.mark.parametrize(("nnodes", "nproc"), [("two", 2), (2, None), (0, 2)])
def test_elastic_shape_rejects_bad_config(nnodes: Any, nproc: Any) -> None:
    with pytest.raises(WandbConfigError, match="Elastic"):
        elastic_shape(elastic_task(nnodes, nproc))


def test_async_elastic_function_is_accepted() -> None:
    # Core runs the coroutine to completion in each worker (issue 11); nothing to refuse here.
    async def train() -> None: ...

    check_task(elastic_task(2, 2, func=train), {})


def test_download_logs_warns_at_decoration() -> None:
    with pytest.warns(RuntimeWarning, match="download_logs=True is not supported for distributed"):
        check_task(elastic_task(2, 2), {"download_logs": True})


def test_single_multi_node_link_follows_a_worker_scope_from_the_context() -> None:
    # Decorator silent on rank_scope: the link defers to wandb_config at render time.
    [link] = links_for_task(elastic_task(2, 2), {**LINK_ARGS, "run_mode": None, "rank_scope": None}, {})
    render = {
        "run_name": "myrun",
        "project": "fp",
        "domain": "dev",
        "parent_action_name": "",
        "action_name": "a0",
        "pod_name": "pod",
    }
    assert link.get_link(context={}, **render) == "https://wandb.ai/e/p/runs/myrun-a0"
    assert (
        link.get_link(context={"wandb_rank_scope": "worker"}, **render) == "https://wandb.ai/e/p/runs/myrun-a0-worker-0"
    )


def test_sigterm_guard_only_in_a_torchrun_workers_main_thread() -> None:
    import threading

    from flyteplugins.wandb_distributed import install_guard

    assert install_guard(env={}) is False  # not a torchrun worker: never touch the process's signals
    result: list[bool] = []
    worker = threading.Thread(target=lambda: result.append(install_guard(env={"RANK": "1", "WORLD_SIZE": "2"})))
    worker.start()
    worker.join()
    assert result == [False]  # signal handlers can only be installed from the main thread
