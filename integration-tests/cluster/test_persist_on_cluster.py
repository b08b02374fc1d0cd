"""Offline runs written in pods are kept in the Flyte run's storage and synced to W&B afterwards.

The "cluster" keeps raw data in an S3-compatible object server on loopback (moto in server mode),
configured as Flyte's store through Flyte's own ``FLYTE_AWS_*`` settings; the pods reach it through
``flyte.storage``. No key reaches the pods, so every run is offline. After the run, the pods' folders
are deleted, and ``sync`` (the Python API and ``flyte wandb sync``) uploads what the store kept to
the loopback W&B server.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cluster_persist_tasks as pt
import cluster_pod
import cluster_s3
import pytest
from wandb_loopback import LoopbackProcess, LoopbackServer

from flyteplugins.wandb_core.sync import StoredRun, list_stored_runs, sync_offline_runs

pytestmark = pytest.mark.integration

STORE = cluster_s3.STORE


def _delete_pods(root: Path) -> None:
    """The pods are gone: nothing they wrote on their disks is left."""
    for sub in ("wandb", "run"):
        shutil.rmtree(root / sub, ignore_errors=True)


def _rows(server: LoopbackServer) -> dict[str, int]:
    return {r.id: len(r.history_lines) for r in server.runs()}


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory: pytest.TempPathFactory, s3: dict[str, str]) -> str:
    root = tmp_path_factory.mktemp("persist-three")
    with cluster_pod.isolated_env(root, **s3):
        result = cluster_pod.run_root(pt.three, 3, run_name="persist-three", base_dir=root / "run")
        assert result.error is None, result.error
        logs = "".join(p.read_text() for p in (root / "run").rglob("pod.log"))
        links = sorted(tuple(link) for pod in result.pods() for link in pod["links"])
    assert logs.count("kept in s3://flyte-data/wandb-offline/persist-three/") == 4, logs
    # The command printed is the one to paste where you sync: that machine knows no store of its own.
    assert logs.count(f"upload it to W&B with: flyte wandb sync persist-three --store {STORE}\n") == 4, logs
    # Links are rendered at submit: the child that is offline by its own setting links to where its
    # runs are kept; the others (offline for want of a key, found out in the pod) to their W&B page.
    assert links[-1] == ("Weights & Biases (offline)", f"{STORE}/wandb-offline/persist-three/"), links
    assert all(url.startswith("https://wandb.ai") for _, url in links[:-1]), links
    _delete_pods(root)
    return "persist-three"


def test_every_pods_offline_run_is_kept_under_the_documented_prefix(three_runs: str, s3) -> None:  # type: ignore[no-untyped-def]
    with cluster_pod.isolated_env(Path.cwd(), **s3):
        stored = list_stored_runs(three_runs, store=STORE)
    assert len(stored) == 4
    assert all(r.uri.startswith(f"{STORE}/wandb-offline/{three_runs}/") for r in stored)
    assert {r.attempt for r in stored} == {0}
    assert len({r.action for r in stored}) == 4  # the parent's pod and each child's
    assert not any(r.synced for r in stored)


def test_sync_brings_every_step_and_a_second_sync_adds_nothing(
    three_runs: str, s3: dict[str, str], tmp_path: Path
) -> None:
    with LoopbackServer() as server, cluster_pod.isolated_env(tmp_path, **server.env(), **s3):
        report = sync_offline_runs(three_runs, store=STORE, progress=False, workers=3)
        assert report.ok, report.failed
        assert len(report.synced) == 4
        rows = _rows(server)
        # 3, 4 and 5 steps in the children's runs, one row in the parent's: 100% of what was logged.
        assert sorted(rows.values()) == [1, 3, 4, 5]
        assert {r.state for r in server.runs()} == {"finished"}

        # Again, through Flyte's CLI (the plugin entry point): nothing left to upload.
        flyte_cli = Path(sys.executable).with_name("flyte")
        out = subprocess.run(
            [str(flyte_cli), "wandb", "sync", three_runs, "--store", STORE, "--no-progress"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        assert "0 run folder(s) synced, 4 synced before, 0 failed" in out.stdout
        assert _rows(server) == rows
        assert len(server.runs()) == 4


def test_sync_of_a_wrong_run_name_or_bucket_says_so_and_fails(
    three_runs: str, s3: dict[str, str], tmp_path: Path
) -> None:
    # Nothing is uploaded either way, so no W&B server is needed: the store answers first.
    flyte_cli = str(Path(sys.executable).with_name("flyte"))

    def sync(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [flyte_cli, "wandb", "sync", *args, "--no-progress"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        # rich-click wraps the message in a box: read it as one line.
        out.stderr = " ".join(re.sub("[\u2500-\u257f]", " ", out.stderr).split())
        return out

    with cluster_pod.isolated_env(tmp_path, **s3):
        typo = sync(three_runs[:-1], "--store", STORE)  # "persist-thre"
        no_bucket = sync(three_runs, "--store", "s3://no-such-bucket")
    # A mistyped run name is not "0 synced, all done": it names the runs the store does keep.
    assert typo.returncode == 2, typo.stdout
    assert f"no offline runs of the Flyte run '{three_runs[:-1]}'" in typo.stderr, typo.stderr
    assert three_runs in typo.stderr
    # A bucket that does not exist: one message saying where and why, not the client's traceback.
    assert no_bucket.returncode == 1, no_bucket.stdout
    assert "could not read s3://no-such-bucket/wandb-offline/" in no_bucket.stderr, no_bucket.stderr
    assert "NoSuchBucket" in no_bucket.stderr and "Traceback" not in no_bucket.stderr


def test_a_sync_with_a_wrong_key_fails_and_the_next_one_uploads(
    three_runs: str, s3: dict[str, str], tmp_path: Path
) -> None:
    run_name = "persist-key"
    with cluster_pod.isolated_env(tmp_path, **s3):
        child, _ = _child_under(three_runs, run_name)

    with LoopbackServer(api_key="a" * 40) as server:
        wrong = {**server.env(), "WANDB_API_KEY": "b" * 40}
        with cluster_pod.isolated_env(tmp_path, **wrong, **s3):
            # wandb sync exits 0 when W&B answers 401: the folder must not be marked synced.
            report = sync_offline_runs(run_name, store=STORE, progress=False)
            [why] = report.failed.values()
            assert not report.synced and why.startswith("RuntimeError: wandb sync reported:"), why
            assert "invalid API key" in why
            [stored] = list_stored_runs(run_name, store=STORE)
            assert not stored.synced and server.runs() == []
        with cluster_pod.isolated_env(tmp_path, **server.env(), **s3):
            report = sync_offline_runs(run_name, store=STORE, progress=False)
        assert report.ok and len(report.synced) == 1, report.failed
        [run] = server.runs()
    assert run.id == child.run_id and len(run.history_lines) in (3, 4, 5) and run.state == "finished"


def test_a_sync_against_a_server_that_never_answers_times_out_and_the_next_one_uploads(
    three_runs: str, s3: dict[str, str], tmp_path: Path
) -> None:
    run_name = "persist-hung"
    with cluster_pod.isolated_env(tmp_path, **s3):
        child, _ = _child_under(three_runs, run_name)
    # Accepts connections (the kernel completes them from the backlog) and never answers.
    with socket.create_server(("127.0.0.1", 0), backlog=128) as silent:
        hung = {"WANDB_BASE_URL": f"http://127.0.0.1:{silent.getsockname()[1]}", "WANDB_API_KEY": "a" * 40}
        with cluster_pod.isolated_env(tmp_path, **hung, **s3):
            cmd = ["wandb", "sync", run_name, "--store", STORE, "--timeout", "3", "--no-progress"]
            flyte_cli = str(Path(sys.executable).with_name("flyte"))
            # Without the sync's own timeout, wandb sync retries a silent server for hours.
            out = subprocess.run([flyte_cli, *cmd], capture_output=True, text=True, timeout=180)
            [stored] = list_stored_runs(run_name, store=STORE)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "0 run folder(s) synced, 0 synced before, 1 failed" in out.stdout
    assert "TimeoutError: W&B did not answer within 3 s" in out.stderr, out.stderr
    assert not stored.synced
    with LoopbackServer() as server, cluster_pod.isolated_env(tmp_path, **server.env(), **s3):
        report = sync_offline_runs(run_name, store=STORE, progress=False, timeout=120)
        assert report.ok and len(report.synced) == 1, report.failed
        [run] = server.runs()
    assert run.id == child.run_id and run.state == "finished"


def test_a_run_file_cut_short_syncs_what_it_holds_once(three_runs: str, s3: dict[str, str], tmp_path: Path) -> None:
    from flyteplugins.wandb.testing import read_offline_run

    run_name = "persist-cut-file"
    with cluster_pod.isolated_env(tmp_path, **s3):
        _, to = _child_under(three_runs, run_name)
        # The pod's disk filled up (or the pod died) mid-write: the log ends in half a record.
        fs = _store_fs()
        [log] = [k for k in fs.find(to) if str(k).endswith(".wandb")]
        data = fs.cat_file(log)
        fs.pipe_file(log, data[:-10])
        (tmp_path / "cut.wandb").write_bytes(data[:-10])
        readable = len(read_offline_run(tmp_path / "cut.wandb").history)

    with LoopbackServer() as server, cluster_pod.isolated_env(tmp_path, **server.env(), **s3):
        # wandb sync uploads what the log holds, then prints an error for the cut; that log can never
        # be completed, so the folder counts as synced once W&B holds every row it could send.
        report = sync_offline_runs(run_name, store=STORE, progress=False)
        assert report.ok and len(report.synced) == 1, report.failed
        again = sync_offline_runs(run_name, store=STORE, progress=False)
        assert not again.synced and len(again.skipped) == 1
        [run] = server.runs()
    assert readable > 0 and len(run.history_lines) == readable


def test_the_ready_sync_task_in_a_pod_finds_the_store_and_syncs_once(
    three_runs: str, s3: dict[str, str], tmp_path: Path
) -> None:
    from flyteplugins.wandb_core.sync import sync_offline_runs_task

    run_name = "persist-task"
    with cluster_pod.isolated_env(tmp_path, **s3):
        child, _ = _child_under(three_runs, run_name)
    with LoopbackServer() as server:
        key = server.env()["WANDB_API_KEY"]
        # No store given: the task's pod takes it from its own raw-data path; the key from the secret.
        with cluster_pod.isolated_env(tmp_path, WANDB_BASE_URL=server.url, **s3):
            first, again = (
                cluster_pod.run_root(
                    sync_offline_runs_task,
                    run_name,
                    run_name=f"sync-{i}",
                    base_dir=tmp_path / f"sync-{i}",
                    secrets={"wandb_api_key": key},
                )
                for i in (1, 2)
            )
        assert first.error is None and again.error is None, first.error or again.error
        assert (first.value, again.value) == (1, 0)  # folders synced by each launch
        [run] = server.runs()
    assert run.id == child.run_id and run.state == "finished"


def _child_under(three_runs: str, run_name: str) -> tuple[StoredRun, str]:
    """A child's stored folder (and its .json) copied under another Flyte run, never synced there:
    the child as stored, and the copy's URI."""
    child = next(r for r in list_stored_runs(three_runs, store=STORE) if r.action != "a0")
    to = child.uri.replace(f"/{three_runs}/", f"/{run_name}/")
    fs = _store_fs()
    fs.copy(child.uri, to, recursive=True)
    fs.copy(f"{child.uri}.json", f"{to}.json")
    return child, to


def _sync_cut_off(run_name: str, server: LoopbackServer, rows: int, landed: Callable[[], bool]) -> None:
    """``flyte wandb sync`` with every upload cut after ``rows`` history rows, killed once ``landed()``.

    The connection losses leave wandb sync retrying; the kill ends it in the middle of its folders'
    uploads, as a machine going away would (no marker says they finished).
    """
    server.cut_history(rows)
    flyte_cli = Path(sys.executable).with_name("flyte")
    proc = subprocess.Popen(
        [str(flyte_cli), "wandb", "sync", run_name, "--store", STORE, "--no-progress"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its wandb sync children go with it
    )
    try:
        server.wait_for(landed, timeout=120, what=f"uploads cut after {rows} rows")
        assert proc.poll() is None, "the sync ended before it was cut off"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        server.heal()


def test_a_sync_killed_mid_upload_and_started_again_sends_every_step_once(
    three_runs: str, s3: dict[str, str], tmp_path: Path
) -> None:
    run_name = "persist-cut"
    with cluster_pod.isolated_env(tmp_path, **s3):
        # A child's stored folder (3 to 5 rows), under a run of its own (no markers: never synced).
        _child_under(three_runs, run_name)

    with LoopbackServer() as server, cluster_pod.isolated_env(tmp_path, **server.env(), **s3):
        _sync_cut_off(run_name, server, 2, lambda: list(_rows(server).values()) == [2])
        report = sync_offline_runs(run_name, store=STORE, progress=False)
        assert report.ok and len(report.synced) == 1, report.failed
        [run] = server.runs()
    rows = [json.loads(line) for line in run.history_lines]
    # Each step once, in order: wandb sync numbers the rows it appends, so a row sent twice would
    # carry the next step number with an earlier step's loss.
    assert len(rows) >= 3 and [r["_step"] for r in rows] == list(range(len(rows))), rows
    assert all(r["loss"] == 1.0 / (r["_step"] + 1) for r in rows), rows
    assert run.state == "finished"


def _stored_checkpoints(run_name: str) -> set[int]:
    """The steps of the offline checkpoints kept in the store for the run's root action."""
    base = f"{STORE}/wandb-offline/{run_name}/a0/checkpoints"
    return {
        int(part[len("step-") :])
        for key in _store_fs().find(base)
        for part in str(key).split("/")
        if part.startswith("step-") and part[len("step-") :].isdigit()
    }


def _store_fs():  # type: ignore[no-untyped-def]
    import flyte.storage as storage

    return storage.get_underlying_filesystem(path=STORE)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_storage_unreachable_the_task_succeeds_and_says_its_run_is_not_kept(tmp_path: Path, s3: dict[str, str]) -> None:
    # Nothing listens there. Flyte's retries take ~20 s per request; FLYTE_STORAGE_RETRIES and
    # FLYTE_STORAGE_BACKOFF_SECONDS cannot shorten them: flyte passes their text where obstore takes a
    # number and a timedelta, and every request then fails with a TypeError before reaching the network.
    dead = {**s3, "FLYTE_AWS_ENDPOINT": f"http://127.0.0.1:{_free_port()}"}
    with cluster_pod.isolated_env(tmp_path, **dead):
        # Restores a checkpoint first (a read that fails and warns), saves one, then the run ends.
        result = cluster_pod.run_root(pt.checkpointed, 1, 0, run_name="persist-dead", base_dir=tmp_path / "run")
    assert result.error is None and result.value == 0, result.error
    warnings = [line for line in result.root.log().splitlines() if line.startswith("wandb: could not")]
    # One line for the checkpoints, and the run's own: that it is not kept (after an earlier warning
    # it used to be silent, leaving only "saved offline in <pod folder>"). Each line short: the
    # storage client's request dump is left out.
    assert [line.split(" (")[0] for line in warnings] == [
        "wandb: could not read offline checkpoints from Flyte storage",
        "wandb: could not keep offline run 'persist-dead-a0' in Flyte storage",
    ], warnings
    assert "are lost with the pod" in warnings[1] and "error sending request" in warnings[1], warnings
    assert all(len(line) < 700 and "Debug source" not in line for line in warnings), warnings


def test_a_run_folder_deleted_while_open_is_reported_lost_not_saved(tmp_path: Path, s3: dict[str, str]) -> None:
    with cluster_pod.isolated_env(tmp_path, **s3):
        result = cluster_pod.run_root(pt.deletes_its_folder, 3, run_name="persist-deleted", base_dir=tmp_path / "run")
        assert result.error is None, result.error  # tracking never fails the task
        stored = list_stored_runs("persist-deleted", store=STORE)
    log = result.root.log()
    assert f"run {result.value!r} is lost: its folder" in log, log
    # No line may promise a sync of files that are gone, and nothing empty goes to the store.
    assert "saved offline" not in log and "kept in" not in log, log
    assert stored == []


def test_sigterm_then_retry_on_a_fresh_pod_restores_and_syncs_one_run(tmp_path: Path, s3: dict[str, str]) -> None:
    run_name = "persist-preempt"
    with cluster_pod.isolated_env(tmp_path, **s3):
        first = cluster_pod.run_root(
            pt.checkpointed, 6, 3, run_name=run_name, base_dir=tmp_path / "run",
            sigterm_when=tmp_path / "run" / "preempt-now",
        )  # fmt: skip
        assert first.root.returncode != 0  # ended by SIGTERM
        assert "kept in s3://flyte-data/wandb-offline/persist-preempt/a0/0/" in first.root.log()
        # keep_last=2 pruned step 0 on the pod's disk, and in the store with it.
        assert _stored_checkpoints(run_name) == {1, 2}
        _delete_pods(tmp_path)
        second = cluster_pod.run_root(pt.checkpointed, 6, 0, run_name=run_name, base_dir=tmp_path / "run", attempt=1)
        assert second.error is None, second.error
        # The fresh pod restored the last checkpoint the preempted one saved (step 2).
        assert second.value == 3
        assert "kept in s3://flyte-data/wandb-offline/persist-preempt/a0/1/" in second.root.log()
        # The retry pruned what it saw on its disk (the restored step 2, then 3); step 1, kept by the
        # first attempt and never on the retry's disk, stays (retention prunes what it saw).
        assert _stored_checkpoints(run_name) == {1, 4, 5}
        _delete_pods(tmp_path)
        stored = list_stored_runs(run_name, store=STORE)
    assert [r.attempt for r in stored] == [0, 1] and len({r.run_id for r in stored}) == 1

    with LoopbackServer() as server, cluster_pod.isolated_env(tmp_path, **server.env(), **s3):
        # The first sync is cut off in the second attempt's folder, after its first row (step 3).
        _sync_cut_off(run_name, server, 4, lambda: sum(_rows(server).values()) == 4)
        report = sync_offline_runs(run_name, store=STORE, progress=False)
        assert report.ok, report.failed
        assert [r.attempt for r in report.skipped] == [0] and [r.attempt for r in report.synced] == [1]
        runs = server.runs()
    assert len(runs) == 1

    steps = [json.loads(line)["_step"] for line in runs[0].history_lines]
    assert steps == [0, 1, 2, 3, 4, 5]  # both attempts, each step once


@pytest.mark.parametrize("kind", ["s3", "file"])
def test_steps_a_preempted_attempt_logged_after_its_checkpoint_sync_once(
    kind: str, tmp_path: Path, s3: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Checkpoints every other step: the preempted attempt logs steps 0-3, its last checkpoint is step
    2, and the retry logs steps 3-5 again from it. Offline nothing can rewind while the task runs.

    "s3": one sync after both attempts. "file": the store is a mounted file system
    (FLYTEPLUGINS_WANDB_STORE), and the first attempt is synced before the retry runs."""
    run_name = f"persist-rewind-{kind}"
    store = STORE if kind == "s3" else (tmp_path / "nfs").as_uri()
    pods = s3 if kind == "s3" else {"FLYTEPLUGINS_WANDB_STORE": store}

    def sync(server: LoopbackServer, folders: int) -> None:
        with cluster_pod.isolated_env(tmp_path, **server.env(), **s3):
            report = sync_offline_runs(run_name, store=store, progress=False)
        assert report.ok and len(report.synced) == folders, report.failed

    with LoopbackServer() as server:
        with cluster_pod.isolated_env(tmp_path, **pods):
            first = cluster_pod.run_root(
                pt.checkpointed, 6, 4, 2, run_name=run_name, base_dir=tmp_path / "run",
                sigterm_when=tmp_path / "run" / "preempt-now",
            )  # fmt: skip
            assert first.root.returncode != 0  # ended by SIGTERM
            _delete_pods(tmp_path)
        if kind == "file":
            sync(server, 1)
        with cluster_pod.isolated_env(tmp_path, **pods):
            second = cluster_pod.run_root(
                pt.checkpointed, 6, 0, 2, run_name=run_name, base_dir=tmp_path / "run", attempt=1
            )
            # The fresh pod restored the preempted attempt's last checkpoint (step 2) from the store.
            assert second.error is None and second.value == 3, second.error
            _delete_pods(tmp_path)
        sync(server, 2 if kind == "s3" else 1)
        [run] = server.runs()
    rows = [(row["_step"], row["attempt"]) for row in map(json.loads, run.history_lines)]
    if kind == "s3":
        # Each step once, as an online resume rewinds: step 3 from the retry that completed it (wandb
        # sync alone moved the retry's steps 3-5 to 4-6 behind the first attempt's step 3).
        assert rows == [(0, 0), (1, 0), (2, 0), (3, 1), (4, 1), (5, 1)], rows
    else:
        # Step 3 was on W&B before the retry logged it again: each step once, step 3 as first uploaded,
        # and the sync says so.
        assert rows == [(0, 0), (1, 0), (2, 0), (3, 0), (4, 1), (5, 1)], rows
        assert capsys.readouterr().err.count("wandb: steps 3-3 of run 'persist-rewind-file-a0' were") == 1


def test_a_childs_part_of_the_parents_run_does_not_rewind_the_parent(tmp_path: Path, s3: dict[str, str]) -> None:
    # Offline, the parent's pod and its child's each keep a part of one run; the child's starts at a
    # step the parent has passed. Only a retry of the same action rewinds the part before it.
    run_name = "persist-family"
    with cluster_pod.isolated_env(tmp_path, **s3):
        result = cluster_pod.run_root(pt.trains_then_evaluates, 4, run_name=run_name, base_dir=tmp_path / "run")
        assert result.error is None, result.error
        _delete_pods(tmp_path)
    with LoopbackServer() as server, cluster_pod.isolated_env(tmp_path, **server.env(), **s3):
        report = sync_offline_runs(run_name, store=STORE, progress=False)
        assert report.ok and len(report.synced) == 2, report.failed
        [run] = server.runs()
    rows = [json.loads(line) for line in run.history_lines]
    assert [r["_step"] for r in rows if "loss" in r] == [0, 1, 2, 3], rows  # none of the parent's lost
    assert len([r for r in rows if "eval/acc" in r]) == 1, rows


def test_wandb_outage_fail_open_run_is_kept_and_synced_when_wandb_is_back(tmp_path: Path, s3: dict[str, str]) -> None:
    run_name = "persist-outage"
    with LoopbackServer() as server:
        key = server.env()["WANDB_API_KEY"]
        # W&B is down while the task runs: the pod has its key but nothing answers at the address.
        down = {"WANDB_BASE_URL": f"http://127.0.0.1:{_free_port()}", **s3}
        with cluster_pod.isolated_env(tmp_path, **down):
            result = cluster_pod.run_root(
                pt.steps, 4, "o", run_name=run_name, base_dir=tmp_path / "run",
                secrets={"wandb_api_key": key},
            )  # fmt: skip
            assert result.error is None, result.error
            log = result.root.log()
            assert "offline" in log and f"kept in {STORE}/wandb-offline/{run_name}/a0/0/" in log, log
        _delete_pods(tmp_path)
        with cluster_pod.isolated_env(tmp_path, **server.env(), **s3):
            report = sync_offline_runs(run_name, store=STORE, progress=False)
        assert report.ok and len(report.synced) == 1, report.failed
        [run] = server.runs()
        assert run.id == result.value  # (its display name says which Flyte task and action made it)
        assert len(run.history_lines) == 4 and run.state == "finished"


def test_wandb_dies_mid_run_the_unconfirmed_online_run_is_kept_and_synced(tmp_path: Path, s3: dict[str, str]) -> None:
    run_name = "persist-midway"
    results = tmp_path / "run"
    with LoopbackProcess() as server:

        def kill_when_asked() -> None:
            # The task writes the first half of its steps online, then asks for W&B to die.
            for _ in range(6000):
                if (results / "kill-wandb").exists():
                    break
                time.sleep(0.05)
            server.kill()
            (results / "wandb-killed").write_text("")

        watcher = threading.Thread(target=kill_when_asked, daemon=True)
        watcher.start()
        with cluster_pod.isolated_env(tmp_path, WANDB_BASE_URL=server.url, **s3):
            result = cluster_pod.run_root(
                pt.outage_midway, 6, run_name=run_name, base_dir=results,
                secrets={"wandb_api_key": server.env()["WANDB_API_KEY"]},
            )  # fmt: skip
        watcher.join(timeout=10)
        assert result.error is None, result.error
        log = result.root.log()
        # finish_timeout bounded the waits: for the checkpoint's commit (retention then stops for the
        # run, saying so once), and for the upload; the folder W&B never confirmed went to the store.
        assert log.count("checkpoint retention: W&B did not commit") == 1, log
        assert "did not confirm the upload of run" in log, log
        assert f"kept in {STORE}/wandb-offline/{run_name}/a0/0/run-" in log, log
        _delete_pods(tmp_path)

        server.restart()  # W&B is back, at the same address, with nothing of the run
        with cluster_pod.isolated_env(tmp_path, **server.env(), **s3):
            [stored] = list_stored_runs(run_name, store=STORE)
            assert stored.online and stored.run_id == result.value
            report = sync_offline_runs(run_name, store=STORE, progress=False)
        assert report.ok and len(report.synced) == 1, report.failed
        [run] = server.runs()
        assert run.id == result.value
        assert [json.loads(line)["_step"] for line in run.history_lines] == list(range(6))
        assert run.state == "finished"
