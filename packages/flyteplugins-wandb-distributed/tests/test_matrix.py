"""The run_mode × rank_scope matrix, resolved for every rank of a single-node and a multi-node job.

Goes through core's ``resolve_run`` with this package's resolver, exactly as ``@wandb_init`` does, so
the contract between the two packages is exercised too. Expected values are written out by hand from
the documented tables, not recomputed with the code under test.
"""

from __future__ import annotations

from typing import Any

import pytest

from flyteplugins.wandb_core._resolve import RunPlan, TaskInfo, Topology, merge_settings, resolve_run
from flyteplugins.wandb_distributed import resolve_distributed

BASE = "myrun-a0"
TASK = TaskInfo(in_task=True, is_task=True, run_name="myrun", action_name="a0")


def topo(rank: int, nodes: int, procs: int) -> Topology:
    return Topology(
        rank=rank,
        local_rank=rank % procs,
        world_size=nodes * procs,
        local_world_size=procs,
        worker_index=rank // procs,
        num_workers=nodes,
    )


def plan_for(
    rank: int, nodes: int, procs: int, *, env: dict[str, str] | None = None, task: TaskInfo = TASK, **decorator: Any
) -> RunPlan:
    settings = merge_settings({"project": "p", "entity": "e", **decorator}, {})
    return resolve_run(settings, task, topo(rank, nodes, procs), env=env or {}, distributed=resolve_distributed)


# rank -> (run id or None when the rank does not log, group, primary)
Expected = dict[int, tuple[str | None, str | None, bool]]

MULTI: dict[tuple[str, str], Expected] = {  # 2 workers × 2 processes
    ("auto", "global"): {0: (BASE, None, True), 1: (None, None, False), 2: (None, None, False), 3: (None, None, False)},
    ("auto", "worker"): {
        0: (f"{BASE}-worker-0", None, True),
        1: (None, None, False),
        2: (f"{BASE}-worker-1", None, True),
        3: (None, None, False),
    },
    ("shared", "global"): {
        0: (BASE, None, True),
        1: (BASE, None, False),
        2: (BASE, None, False),
        3: (BASE, None, False),
    },
    ("shared", "worker"): {
        0: (f"{BASE}-worker-0", None, True),
        1: (f"{BASE}-worker-0", None, False),
        2: (f"{BASE}-worker-1", None, True),
        3: (f"{BASE}-worker-1", None, False),
    },
    ("new", "global"): {r: (f"{BASE}-rank-{r}", BASE, True) for r in range(4)},
    ("new", "worker"): {
        0: (f"{BASE}-worker-0-rank-0", f"{BASE}-worker-0", True),
        1: (f"{BASE}-worker-0-rank-1", f"{BASE}-worker-0", True),
        2: (f"{BASE}-worker-1-rank-0", f"{BASE}-worker-1", True),
        3: (f"{BASE}-worker-1-rank-1", f"{BASE}-worker-1", True),
    },
}

SINGLE: dict[tuple[str, str], Expected] = {  # 1 worker × 4 processes: rank_scope changes nothing
    ("auto", "global"): {0: (BASE, None, True), 1: (None, None, False), 2: (None, None, False), 3: (None, None, False)},
    ("auto", "worker"): {0: (BASE, None, True), 1: (None, None, False), 2: (None, None, False), 3: (None, None, False)},
    ("shared", "global"): {0: (BASE, None, True), **{r: (BASE, None, False) for r in (1, 2, 3)}},
    ("shared", "worker"): {0: (BASE, None, True), **{r: (BASE, None, False) for r in (1, 2, 3)}},
    ("new", "global"): {r: (f"{BASE}-rank-{r}", BASE, True) for r in range(4)},
    ("new", "worker"): {r: (f"{BASE}-rank-{r}", BASE, True) for r in range(4)},
}

CASES = [(mode, scope, 2, 2, MULTI[(mode, scope)]) for mode, scope in MULTI] + [
    (mode, scope, 1, 4, SINGLE[(mode, scope)]) for mode, scope in SINGLE
]


def _ids(nodes: int, procs: int) -> str:
    return "multi-node-2x2" if nodes > 1 else "single-node-1x4"


@pytest.mark.parametrize(
    ("run_mode", "rank_scope", "nodes", "procs", "expected"),
    CASES,
    ids=[f"{m}-{s}-{_ids(n, p)}" for m, s, n, p, _ in CASES],
)
def test_matrix(run_mode: str, rank_scope: str, nodes: int, procs: int, expected: Expected) -> None:
    plans = {r: plan_for(r, nodes, procs, run_mode=run_mode, rank_scope=rank_scope) for r in range(nodes * procs)}
    for rank, (run_id, group, primary) in expected.items():
        plan = plans[rank]
        if run_id is None:
            assert plan.action == "skip", rank
            assert plan.init_kwargs == {} and plan.settings == {}
            assert plan.primary is False and plan.advertise is False
            continue
        assert plan.action == "init", rank
        assert plan.run_id == run_id and plan.init_kwargs["id"] == run_id
        assert plan.init_kwargs.get("group") == group
        assert plan.primary is primary, rank
        assert plan.init_kwargs["project"] == "p" and plan.init_kwargs["entity"] == "e"
        assert plan.init_kwargs["reinit"] == "create_new"

    logging_ranks = [r for r, (rid, _, _) in expected.items() if rid is not None]
    runs = {expected[r][0] for r in logging_ranks}
    n, m = nodes, procs
    # The headline numbers of the "Run modes in distributed context" table.
    want_runs = {
        "auto": {"global": 1, "worker": n},
        "shared": {"global": 1, "worker": n},
        "new": {"global": n * m, "worker": n * m},
    }[run_mode][rank_scope]
    assert len(runs) == want_runs
    groups = {expected[r][1] for r in logging_ranks} - {None}
    assert len(groups) == ({"global": 1, "worker": n}[rank_scope] if run_mode == "new" else 0)
    # Exactly one writer owns each run's final state.
    for run in runs:
        owners = [r for r in logging_ranks if expected[r][0] == run and plans[r].primary]
        assert len(owners) == 1, (run, owners)


@pytest.mark.parametrize("nodes,procs", [(2, 2), (1, 4)])
@pytest.mark.parametrize("rank_scope", ["global", "worker"])
def test_shared_mode_online_settings(nodes: int, procs: int, rank_scope: str) -> None:
    plans = [
        plan_for(r, nodes, procs, run_mode="shared", rank_scope=rank_scope, mode="online") for r in range(nodes * procs)
    ]
    labels = set()
    for rank, plan in enumerate(plans):
        s = plan.settings
        assert s["mode"] == "shared"
        assert s["x_primary"] is plan.primary
        assert s["x_update_finish_state"] is plan.primary
        assert "mode" not in plan.init_kwargs  # the Settings' shared mode must not be overridden
        assert "resume" not in plan.init_kwargs
        want = f"worker-{rank // procs}-rank-{rank}" if nodes > 1 else f"rank-{rank}"
        assert s["x_label"] == want == s["x_sync_dir_suffix"]
        labels.add(s["x_label"])
    assert len(labels) == nodes * procs


@pytest.mark.parametrize(
    "env,decorator", [({}, {}), ({"WANDB_MODE": "offline"}, {}), ({"WANDB_API_KEY": "k" * 40}, {"mode": "offline"})]
)
def test_shared_mode_offline_writes_labelled_parts(env: dict[str, str], decorator: dict[str, Any]) -> None:
    # No key (or an explicit offline mode): wandb cannot share offline, so each rank writes its own
    # labelled part of the same run id, to be synced together later.
    plans = [plan_for(r, 2, 2, env=env, run_mode="shared", **decorator) for r in range(4)]
    for rank, plan in enumerate(plans):
        assert plan.action == "init" and plan.run_id == BASE
        assert plan.init_kwargs["mode"] == "offline"
        assert plan.init_kwargs["resume"] == "allow"
        assert "mode" not in plan.settings and "x_primary" not in plan.settings
        assert plan.settings["x_sync_dir_suffix"] == f"worker-{rank // 2}-rank-{rank}"
    assert [p.primary for p in plans] == [True, False, False, False]


def test_shared_mode_disabled_stays_disabled() -> None:
    plan = plan_for(1, 2, 2, run_mode="shared", mode="disabled")
    assert plan.init_kwargs["mode"] == "disabled" and "mode" not in plan.settings


@pytest.mark.parametrize("run_mode", ["auto", "new"])
def test_deterministic_ids_resume_for_elastic_restarts(run_mode: str) -> None:
    first = plan_for(0, 2, 2, run_mode=run_mode)
    again = plan_for(0, 2, 2, run_mode=run_mode)  # the relaunched worker group resolves the same way
    assert first.init_kwargs["id"] == again.init_kwargs["id"]
    assert first.init_kwargs["resume"] == "allow"


def test_user_id_is_the_base() -> None:
    settings = merge_settings({"id": "mine", "run_mode": "new", "rank_scope": "worker"}, {})
    plan = resolve_run(settings, TASK, topo(3, 2, 2), env={}, distributed=resolve_distributed)
    assert plan.run_id == "mine-worker-1-rank-1"
    assert plan.init_kwargs["group"] == "mine-worker-1"


def test_user_group_wins_in_new_mode() -> None:
    plan = plan_for(2, 2, 2, run_mode="new", group="mine")
    assert plan.init_kwargs["group"] == "mine" and plan.run_id == f"{BASE}-rank-2"


def test_context_settings_pick_mode_and_scope() -> None:
    settings = merge_settings({}, {"run_mode": "new", "rank_scope": "worker"})
    plan = resolve_run(settings, TASK, topo(1, 2, 2), env={}, distributed=resolve_distributed)
    assert plan.run_id == f"{BASE}-worker-0-rank-1"


def test_parent_run_is_not_joined() -> None:
    # A distributed task's runs are its own: ranks cannot all join an ancestor's run consistently.
    task = TaskInfo(in_task=True, is_task=True, run_name="myrun", action_name="a0", parent_run_id="parent")
    plan = plan_for(0, 2, 2, task=task)
    assert plan.run_id == BASE and plan.primary


def test_download_logs_is_dropped_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    import flyteplugins.wandb_distributed as distributed

    monkeypatch.setattr(distributed, "_warned_download", False)
    with pytest.warns(RuntimeWarning, match="download_logs=True is not supported for distributed"):
        plan = plan_for(0, 2, 2, download_logs=True)
    assert plan.download_logs is False
    assert plan_for(1, 2, 2, download_logs=True).download_logs is False


def test_without_a_flyte_run_name() -> None:
    outside = TaskInfo(in_task=False, is_task=True)
    plan = plan_for(0, 2, 2, task=outside)
    assert plan.action == "init" and plan.run_id is None and "id" not in plan.init_kwargs
    assert plan_for(1, 2, 2, task=outside).action == "skip"
    from flyteplugins.wandb_core import WandbConfigError

    with pytest.raises(WandbConfigError, match="run_mode='shared' under torchrun needs a run id"):
        plan_for(0, 2, 2, task=outside, run_mode="shared")


def test_world_size_one_is_not_distributed() -> None:
    settings = merge_settings({"run_mode": "new"}, {})
    single = Topology(rank=0, local_rank=0, world_size=1, local_world_size=1, worker_index=0, num_workers=1)
    plan = resolve_run(settings, TASK, single, env={}, distributed=resolve_distributed)
    assert plan.run_id == BASE and "group" not in plan.init_kwargs


@pytest.mark.parametrize("run_mode", ["auto", "shared"])
@pytest.mark.parametrize("id_length", [20, 120, 128])
def test_the_worker_link_points_at_the_run_the_worker_writes(run_mode: str, id_length: int) -> None:
    """Long explicit ids are shortened with a hash by the ranks; the Flyte link must name the same run."""
    from flyteplugins.wandb_core import Wandb

    explicit = "x" * id_length
    link = Wandb(project="p", entity="e", run_mode=run_mode, rank_scope="worker", id=explicit).for_ranks(1)
    url = link.get_link(
        run_name="myrun",
        project="fp",
        domain="development",
        context={},
        parent_action_name="parent",
        action_name="a0",
        pod_name="pod",
    )
    # rank 2 is local rank 0 of worker 1 (2 workers x 2 processes): it opens worker 1's run
    plan = plan_for(2, 2, 2, run_mode=run_mode, rank_scope="worker", id=explicit)
    assert plan.action == "init" and plan.run_id is not None and len(plan.run_id) <= 128
    assert url == f"https://wandb.ai/e/p/runs/{plan.run_id}"
