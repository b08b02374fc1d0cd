"""Rank handling proven with real torchrun processes.

Each job is two torchrun agents acting as two nodes of two processes each on localhost (c10d
rendezvous); every worker does a gloo ``all_reduce`` and then runs the tracked Flyte task in local mode
under the same run name, with the real Elastic plugin config. The W&B side is checked in the offline
run files the wandb SDK wrote. One job covers all six run_mode × rank_scope cells (one Flyte run each).

Needs torch and flyteplugins-pytorch, which the default environment deliberately lacks; see
``integration-tests/distributed/README.md`` for the venv. Without them the module is skipped.
"""

from __future__ import annotations

import inspect
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip(
    "torch",
    reason="torch is not installed: the torchrun tests run in a venv with torch==2.13.0 "
    "(see integration-tests/distributed/README.md)",
)
pytest.importorskip("flyteplugins.pytorch", reason="flyteplugins-pytorch (Flyte's Elastic plugin) is not installed")
pytest.importorskip("flyteplugins.wandb_distributed", reason="flyteplugins-wandb-distributed is not installed")

sys.path.insert(0, str(Path(__file__).parent))

from torchrun_job import Job, run_job

from flyteplugins.wandb.testing import OfflineRun, read_offline_runs
from flyteplugins.wandb_core._preempt import PREEMPTED_EXIT_CODE

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

MODES = ("auto/global", "auto/worker", "new/global", "new/worker", "shared/global", "shared/worker")
STEPS = 3
WORLD = 4
# 2 nodes × 2 processes: rank -> (worker index, local rank)
PLACE = {0: (0, 0), 1: (0, 1), 2: (1, 0), 3: (1, 1)}
# rank -> run id suffix appended to the base, None when the rank does not log (the documented tables).
SUFFIX: dict[str, dict[int, str | None]] = {
    "auto/global": {0: "", 1: None, 2: None, 3: None},
    "auto/worker": {0: "-worker-0", 1: None, 2: "-worker-1", 3: None},
    "new/global": {0: "-rank-0", 1: "-rank-1", 2: "-rank-2", 3: "-rank-3"},
    "new/worker": {0: "-worker-0-rank-0", 1: "-worker-0-rank-1", 2: "-worker-1-rank-0", 3: "-worker-1-rank-1"},
    "shared/global": {0: "", 1: "", 2: "", 3: ""},
    "shared/worker": {0: "-worker-0", 1: "-worker-0", 2: "-worker-1", 3: "-worker-1"},
}
GROUP_SUFFIX = {
    "new/global": {r: "" for r in range(4)},
    "new/worker": {0: "-worker-0", 1: "-worker-0", 2: "-worker-1", 3: "-worker-1"},
}


def base_id(job: Job, mode: str, prefix: str, attempt: int | None = None) -> str:
    entries = job.entries(mode, attempt)
    actions = {e["action"] for e in entries.values()}
    assert len(actions) == 1, f"ranks disagree on the Flyte action name: {actions}"
    run_name = f"{prefix}-{mode.replace('/', '-')}"
    assert {e["run_name"] for e in entries.values()} == {run_name}
    return f"{run_name}-{actions.pop()}"


def runs_of(wandb_dir: Path, base: str) -> list[OfflineRun]:
    # `{base}` is a prefix of every id of that Flyte run (`{base}-worker-0`, ...).
    return [r for r in read_offline_runs(wandb_dir) if r.id == base or r.id.startswith(base + "-")]


# ------------------------------------------------------------------------------------------------
# All six cells, one job
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def matrix_job(tmp_path_factory: pytest.TempPathFactory) -> tuple[Job, Path]:
    workdir = tmp_path_factory.mktemp("matrix")
    job = run_job(workdir, ",".join(MODES), prefix="mx", worker_args=("--steps", str(STEPS)), expect_success=True)
    assert job.returncodes == [0, 0], job.log_tail()
    assert len(job.reports) == WORLD, job.log_tail()
    return job, workdir / "wandb"


@pytest.mark.parametrize("mode", MODES)
def test_matrix_cell(matrix_job: tuple[Job, Path], mode: str) -> None:
    check_cell(*matrix_job, mode, "mx")


def check_cell(job: Job, wandb_dir: Path, mode: str, prefix: str) -> None:
    """One run_mode × rank_scope cell of a 2 × 2 job: who logged, ids, groups, history, exit codes."""
    entries = job.entries(mode)
    assert sorted(entries) == [0, 1, 2, 3]
    base = base_id(job, mode, prefix)
    for rank, entry in entries.items():
        assert entry["error"] is None, entry
        assert entry["allreduce"] == 10.0  # the collective ran on every rank
        worker, local = PLACE[rank]
        assert entry["info"] == {
            "rank": rank,
            "local_rank": local,
            "world_size": 4,
            "local_world_size": 2,
            "worker_index": worker,
            "num_workers": 2,
        }
        suffix = SUFFIX[mode][rank]
        if suffix is None:
            assert entry["got_run"] is False and entry["run_id"] is None
        else:
            assert entry["got_run"] is True and entry["run_id"] == base + suffix

    written = runs_of(wandb_dir, base)
    logging = {r: s for r, s in SUFFIX[mode].items() if s is not None}
    # One offline file per writer: a run per logging rank, or one labelled part per rank (shared).
    assert len(written) == len(logging), [r.id for r in written]
    by_rank = {}
    for run in written:
        [rank] = set(run.metric("rank"))
        by_rank[rank] = run
        assert run.metric("allreduce") == [10.0] * STEPS
        assert run.exit_code == 0
        assert run.project == "dist-it"
    assert sorted(by_rank) == sorted(logging)
    for rank, run in by_rank.items():
        assert run.id == base + logging[rank]
        check_flyte_block(run, mode, rank)
        want_group = GROUP_SUFFIX.get(mode, {}).get(rank)
        assert run.group == ("" if want_group is None else base + want_group)
        if mode.startswith("shared"):
            # Offline shared: every writer's part sits in its own directory, labelled by worker/rank.
            worker, _ = PLACE[rank]
            assert run.path.parent.name.endswith(f"-worker-{worker}-rank-{rank}")


def check_flyte_block(run: OfflineRun, mode: str, rank: int) -> None:
    """A rank's run (or the scope primary's part of a shared run) says which rank and worker wrote it."""
    worker, local = PLACE[rank]
    if mode.startswith("shared") and (rank != 0 if mode.endswith("global") else local != 0):
        # A shared run's identity is written by its primary alone; the other parts leave it be.
        assert "flyte" not in run.config
        return
    block = run.config["flyte"]
    assert (block["rank"], block["worker"], block["world_size"]) == (rank, worker, 4)
    assert run.id.startswith(f"{block['run_name']}-{block['action_name']}")
    assert run.name.endswith(f"-{block['action_name']}-rank{rank}")


@pytest.fixture(scope="module")
def async_matrix_job(tmp_path_factory: pytest.TempPathFactory) -> tuple[Job, Path]:
    workdir = tmp_path_factory.mktemp("async-matrix")
    job = run_job(
        workdir, ",".join(MODES), prefix="am", worker_args=("--steps", str(STEPS), "--async-body"), expect_success=True
    )
    assert job.returncodes == [0, 0], job.log_tail()
    assert len(job.reports) == WORLD, job.log_tail()
    return job, workdir / "wandb"


@pytest.mark.parametrize("mode", MODES)
def test_async_task_functions_run_in_every_worker_with_the_same_rank_handling(
    async_matrix_job: tuple[Job, Path], mode: str
) -> None:
    # The seeds' `@wandb_init(...)` over `@env.task(plugin_config=Elastic(...))` on an `async def`:
    # Flyte's Elastic plugin calls the function without awaiting it; every rank's coroutine must run
    # to its end (on an event loop) and the run_mode x rank_scope table must hold exactly as for `def`.
    job, wandb_dir = async_matrix_job
    assert {rank: e.get("async_body") for rank, e in job.entries(mode).items()} == {r: True for r in range(WORLD)}
    check_cell(job, wandb_dir, mode, "am")


def test_ranks_that_do_not_log_start_no_wandb_process(matrix_job: tuple[Job, Path]) -> None:
    job, _ = matrix_job
    # Counted cumulatively per process, after each mode; the auto modes run first.
    seen = {rank: (job.entries("auto/global")[rank], job.entries("auto/worker")[rank]) for rank in range(WORLD)}
    assert [seen[r][0]["wandb_processes"] for r in range(WORLD)] == [1, 0, 0, 0]
    assert [seen[r][0]["wandb_imported"] for r in range(WORLD)] == [True, False, False, False]
    assert [seen[r][1]["wandb_processes"] for r in range(WORLD)] == [1, 0, 1, 0]
    assert [seen[r][1]["wandb_imported"] for r in range(WORLD)] == [True, False, True, False]
    # One wandb service per process however many runs it opened.
    assert [job.entries("shared/worker")[r]["wandb_processes"] for r in range(WORLD)] == [1, 1, 1, 1]


# ------------------------------------------------------------------------------------------------
# Failure and Elastic restart: every rank raises on the first attempt, the agents relaunch the group
# ------------------------------------------------------------------------------------------------


def test_failed_ranks_mark_runs_failed_and_restart_continues_the_same_runs(tmp_path: Path) -> None:
    modes = "auto/global,new/worker"
    job = run_job(
        tmp_path / "job",
        modes,
        prefix="rs",
        max_restarts=1,
        worker_args=("--fail-attempt", "0", "--steps", "2"),
        expect_success=True,
    )
    assert job.returncodes == [0, 0], job.log_tail()
    assert sorted(job.reports) == [(r, a) for r in range(WORLD) for a in (0, 1)], job.log_tail()
    wandb_dir = tmp_path / "job" / "wandb"
    for mode in modes.split(","):
        base = base_id(job, mode, "rs", attempt=0)
        assert base_id(job, mode, "rs", attempt=1) == base  # the relaunched group derives the same base
        for entry in job.entries(mode, attempt=0).values():
            assert "planned failure on rank" in (entry["error"] or "")
        expected_ids = {base + s for s in SUFFIX[mode].values() if s is not None}
        parts: dict[str, list[OfflineRun]] = {}
        for run in runs_of(wandb_dir, base):
            parts.setdefault(run.id, []).append(run)
        # No new run was created by the restart: the same ids, each written once per attempt.
        assert set(parts) == expected_ids
        for run_id, (first, second) in ((k, sorted(v, key=lambda r: r.metric("attempt")[0])) for k, v in parts.items()):
            assert first.metric("attempt") == [0, 0] and first.exit_code == 1, run_id  # marked failed
            assert second.metric("attempt") == [1, 1] and second.exit_code == 0, run_id


def test_a_failing_rank_fails_its_run_and_the_ranks_the_agent_stops_are_preempted(tmp_path: Path) -> None:
    # Rank 3 raises while the others keep training (--linger: an all_reduce every 5 s for 10 minutes).
    # Its agent stops rank 2 with SIGTERM at once; ranks 0-1 fail in their next collective (or are
    # stopped by their agent). A hang would show up as the job outliving the launcher's timeout.
    # Issue 12 item 5: a rank stopped by SIGTERM goes through core's one SIGTERM path (marked
    # preempting, finished with exit code 143); a rank whose code raised keeps exit code 1.
    job = run_job(
        tmp_path / "job",
        "new/global",
        prefix="kl",
        timeout=300,
        worker_args=("--fail-attempt", "0", "--fail-ranks", "3", "--linger", "600", "--steps", "2"),
    )
    assert job.returncodes != [0, 0]
    entries = job.entries("new/global")  # ranks killed by SIGTERM write no report
    assert "planned failure on rank 3" in entries[3]["error"]
    for rank, entry in entries.items():
        assert entry["error"], rank  # a rank that got to report failed in its next collective
    base = base_id(job, "new/global", "kl")
    runs = {r.id: r for r in runs_of(tmp_path / "job" / "wandb", base)}
    assert sorted(runs) == [f"{base}-rank-{r}" for r in range(WORLD)]
    codes = {}
    for rank in range(WORLD):
        run = runs[f"{base}-rank-{rank}"]
        codes[rank] = run.exit_code
        assert run.metric("rank") == [rank, rank]  # what was logged before the stop was kept
    assert codes[3] == 1, (codes, job.log_tail())  # the raising rank: failed, not preempted
    # The others failed in a collective (1) or were stopped by their agent (143, preempted).
    assert set(codes.values()) <= {1, PREEMPTED_EXIT_CODE}, (codes, job.log_tail())
    # At least rank 3's neighbour went through the SIGTERM handler (the others may have failed first).
    assert PREEMPTED_EXIT_CODE in codes.values(), (codes, job.log_tail())
    logs = "\n".join(job.logs)
    assert logs.count("wandb: SIGTERM: marked run(s)") >= 1, job.log_tail()
    assert "wandb: SIGTERM: finished run(s)" not in logs  # the distributed package's own SIGTERM handler is gone


# ------------------------------------------------------------------------------------------------
# Without flyteplugins-wandb-distributed: no silent run per rank
# ------------------------------------------------------------------------------------------------


def test_without_the_distributed_package_only_rank_0_logs_and_the_hint_is_shown(tmp_path: Path) -> None:
    # "new" would otherwise mean a run per rank, and "shared" every rank writing: both collapse to rank 0.
    job = run_job(
        tmp_path / "job",
        "new/global,shared/global",
        prefix="nd",
        worker_args=("--hide-distributed",),
        expect_success=True,
    )
    assert job.returncodes == [0, 0], job.log_tail()
    for mode in ("new/global", "shared/global"):
        entries = job.entries(mode)
        assert [entries[r]["error"] for r in range(WORLD)] == [None] * WORLD
        assert [entries[r]["got_run"] for r in range(WORLD)] == [True, False, False, False]
        assert [entries[r]["wandb_processes"] for r in range(WORLD)] == [1, 0, 0, 0]
        base = base_id(job, mode, "nd")
        [run] = runs_of(tmp_path / "job" / "wandb", base)
        assert run.id == base and run.metric("rank") == [0, 0, 0]
    logs = "\n".join(job.logs)
    # Every worker warns, at decoration (Elastic task) and at run time (WORLD_SIZE > 1).
    assert logs.count("rank handling is not installed") >= WORLD * 2, job.log_tail()
    assert "pip install 'flyteplugins-wandb[distributed]'" in logs


# ------------------------------------------------------------------------------------------------
# Decoration of a real Elastic task (no processes needed)
# ------------------------------------------------------------------------------------------------


def _elastic_env(nnodes: Any, nproc: int) -> Any:
    import flyte

    from flyteplugins.pytorch.task import Elastic

    return flyte.TaskEnvironment(
        name=f"el_{str(nnodes).replace(':', '_')}_{nproc}", plugin_config=Elastic(nnodes=nnodes, nproc_per_node=nproc)
    )


def _urls(task: Any) -> list[str]:
    from flyteplugins.wandb import Wandb

    return [
        link.get_link(
            run_name="r", project="fp", domain="dev", context={}, parent_action_name="", action_name="a0", pod_name="p"
        )
        for link in task.links
        if isinstance(link, Wandb)
    ]


def test_elastic_task_links_and_checks() -> None:
    from flyteplugins.wandb import WandbConfigError, wandb_init

    env = _elastic_env(2, 2)

    def per_worker() -> None: ...

    def grouped() -> None: ...

    def single() -> None: ...

    task = wandb_init(project="p", entity="e", rank_scope="worker")(env.task(per_worker))
    assert _urls(task) == ["https://wandb.ai/e/p/runs/r-a0-worker-0", "https://wandb.ai/e/p/runs/r-a0-worker-1"]
    task = wandb_init(project="p", entity="e", run_mode="new")(env.task(grouped))
    assert _urls(task) == ["https://wandb.ai/e/p/groups/r-a0"]
    task = wandb_init(project="p", entity="e")(_elastic_env("1:3", 2).task(single))
    assert _urls(task) == ["https://wandb.ai/e/p/runs/r-a0"]

    async def train_async() -> None: ...

    # Accepted (the coroutine runs in each worker) and still an async task to Flyte, also after
    # `.override()`, which re-reads whether the function is a coroutine function.
    task = wandb_init(project="p", entity="e")(env.task(train_async))
    assert inspect.iscoroutinefunction(task.func)
    assert not task.override(short_name="again")._call_as_synchronous
    assert _urls(task) == ["https://wandb.ai/e/p/runs/r-a0"]

    with pytest.raises(WandbConfigError, match="applied twice"):
        wandb_init(task)

    def with_download() -> None: ...

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wandb_init(download_logs=True)(env.task(with_download))
    assert any("download_logs=True is not supported for distributed" in str(w.message) for w in caught)


# ------------------------------------------------------------------------------------------------
# Online, against the loopback W&B server: real shared mode, and resume across an Elastic restart
# ------------------------------------------------------------------------------------------------


def test_online_shared_mode_and_restart_against_the_loopback_server(tmp_path: Path, wandb_server: Any) -> None:
    from torchrun_job import clean_env

    steps = 2
    workdir = tmp_path / "job"
    # Every task fails on the first attempt; the agents relaunch the group once.
    env = clean_env(workdir, {**wandb_server.env(), "WANDB_CONSOLE": "wrap"})
    job = run_job(
        workdir,
        "auto/global,shared/global,shared/worker",
        prefix="on",
        max_restarts=1,
        env=env,
        worker_args=("--fail-attempt", "0", "--steps", str(steps)),
    )
    assert job.returncodes == [0, 0], job.log_tail()
    assert not list((workdir / "wandb").glob("offline-run-*")), "nothing may fall back to offline"

    # auto/global: the relaunched rank 0 resumed its run: one run, its step counter continued.
    base = base_id(job, "auto/global", "on")
    run = wandb_server.run(base)
    assert [row["attempt"] for row in run.history] == [0] * steps + [1] * steps
    assert [row["_step"] for row in run.history] == list(range(2 * steps))
    assert (run.state, run.exit_code, run.sessions) == ("finished", 0, 2)
    assert [r.id for r in wandb_server.runs("dist-it") if r.id.startswith(base)] == [base]

    for mode, ranks_of_run in (
        ("shared/global", {"": {0, 1, 2, 3}}),
        ("shared/worker", {"-worker-0": {0, 1}, "-worker-1": {2, 3}}),
    ):
        base = base_id(job, mode, "on")
        assert sorted(r.id for r in wandb_server.runs("dist-it") if r.id.startswith(base)) == sorted(
            base + suffix for suffix in ranks_of_run
        )
        for suffix, ranks in ranks_of_run.items():
            run = wandb_server.run(base + suffix)
            # Every rank of the scope wrote to this one run, in both attempts.
            assert {(row["rank"], row["attempt"]) for row in run.history} == {(r, a) for r in ranks for a in (0, 1)}
            assert len(run.shared_clients) == 2 * len(ranks)
            # One primary per attempt finished the run: failed after attempt 0, finished after 1.
            finished = [w.exit_code for w in run.writers.values() if w.finished]
            assert sorted(finished) == [0, 1], (mode, suffix, finished)
            assert (run.state, run.exit_code) == ("finished", 0)
            # Each writer's console output is labelled with its worker and rank.
            log = "\n".join(run.log_lines)
            for r in ranks:
                assert f"[worker-{PLACE[r][0]}-rank-{r}]" in log and f"hello from rank {r}" in log, log[-2000:]
