"""Tracked Flyte tasks (local mode) logging online to the loopback W&B server: retries and log download.

Assertions read the server's stored state (or files downloaded from it), never the client's word.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import flyte
import flyte.io
import pytest
from wandb_loopback import LoopbackServer

from flyteplugins.wandb import (
    download_wandb_run_dir,
    download_wandb_run_logs,
    download_wandb_sweep_dirs,
    get_wandb_run,
    wandb_config,
    wandb_init,
)

pytestmark = pytest.mark.integration

env = flyte.TaskEnvironment(name="online_tasks")


def run_local(task, *args, name: str, custom_context=None, **kwargs):
    rc = flyte.with_runcontext(mode="local", name=name, custom_context=custom_context or {})
    return rc.run(task, *args, **kwargs)


class BoomError(RuntimeError):
    pass


@pytest.fixture
def download_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where downloads without an explicit path land ({tmp}/wandb_runs), kept inside the test dir."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root / "wandb_runs"


# -- 4. retries online -----------------------------------------------------------------------------

_attempts: dict[str, int] = {}


@wandb_init(project="retry", entity="e")
@env.task(retries=1)
async def flaky(key: str) -> str:
    _attempts[key] = _attempts.get(key, 0) + 1
    run = get_wandb_run()
    for i in range(3):
        run.log({"attempt": _attempts[key], "i": i})
    if _attempts[key] == 1:
        raise BoomError("first attempt fails")
    return run.id


def test_retry_yields_one_run_with_both_attempts_finished_ok(wandb_server: LoopbackServer) -> None:
    rid = run_local(flaky, "k1", name="retry").outputs()[0]
    assert _attempts["k1"] == 2
    # One run, under the deterministic {run_name}-{action_name} id both attempts share.
    assert [r.id for r in wandb_server.runs()] == [rid] and rid.startswith("retry-")
    stored = wandb_server.run(rid)
    assert stored.metric("attempt") == [1, 1, 1, 2, 2, 2]
    # The second attempt resumed the run: its steps continue where the first attempt stopped.
    assert [row["_step"] for row in stored.history] == [0, 1, 2, 3, 4, 5]
    assert stored.sessions == 2
    assert stored.state == "finished" and stored.exit_code == 0


# -- 2. download -------------------------------------------------------------------------------------


@wandb_init(project="dl", entity="e", download_logs=True)
@env.task
async def train_async(n: int) -> str:
    run = get_wandb_run()
    for i in range(n):
        run.log({"loss": 1.0 / (i + 1)})
    (Path(run.dir) / "model.txt").write_text("weights")
    run.save(str(Path(run.dir) / "model.txt"), base_path=run.dir)
    run.summary["final"] = n
    return run.id


@wandb_init(project="dl", entity="e")
@env.task
def train_sync(n: int) -> str:
    run = get_wandb_run()
    for i in range(n):
        run.log({"loss": float(i)})
    return run.id


def _check_download(path: Path, stored) -> None:
    names = {str(p.relative_to(path)) for p in path.rglob("*") if p.is_file()}
    assert set(stored.files) | {"summary.json", "metrics_history.json"} <= names
    for name, data in stored.files.items():
        assert (path / name).read_bytes() == data, name
    summary = json.loads((path / "summary.json").read_text())
    assert {k: v for k, v in summary.items() if not k.startswith("_")} == {
        k: v for k, v in stored.summary.items() if not k.startswith("_")
    }
    history = json.loads((path / "metrics_history.json").read_text())
    assert [row.get("loss") for row in history] == stored.metric("loss")


def test_download_logs_true_downloads_after_an_async_task(wandb_server: LoopbackServer, download_root: Path) -> None:
    rid = run_local(train_async, 4, name="dla").outputs()[0]
    stored = wandb_server.run(rid)
    assert stored.state == "finished" and "model.txt" in stored.files
    path = download_root / rid
    _check_download(path, stored)
    assert (path / "model.txt").read_text() == "weights"
    assert len(json.loads((path / "metrics_history.json").read_text())) == 4


def test_download_logs_from_context_on_a_sync_task(wandb_server: LoopbackServer, download_root: Path) -> None:
    rid = run_local(train_sync, 3, name="dls", custom_context=wandb_config(download_logs=True)).outputs()[0]
    _check_download(download_root / rid, wandb_server.run(rid))


@pytest.mark.filterwarnings("ignore:download_logs. could not download:RuntimeWarning")
def test_failed_download_keeps_the_task_result_unless_on_error_raise(
    wandb_server: LoopbackServer, download_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wandb_server.fail(400, match="RunFiles")  # the run uploads fine; reading its file list fails
    rid = run_local(train_sync, 2, name="dlf", custom_context=wandb_config(download_logs=True)).outputs()[0]
    assert wandb_server.run(rid).exit_code == 0
    assert any("download_logs: could not download W&B run" in r.getMessage() for r in caplog.records)
    strict = wandb_config(download_logs=True, on_error="raise")
    with pytest.raises(Exception, match="Failed to download files of W&B run"):
        run_local(train_sync, 2, name="dlf2", custom_context=strict)


@wandb_init(project="dl", entity="e", id="fn-run", download_logs=True)
def tracked_function() -> str:
    get_wandb_run().log({"loss": 0.5})
    return get_wandb_run().id


@env.task
async def calls_function() -> str:
    return tracked_function()  # a sync tracked function on the task's event-loop thread


def test_download_logs_on_a_sync_function_called_from_an_async_task(
    wandb_server: LoopbackServer, download_root: Path
) -> None:
    rid = run_local(calls_function, name="fn").outputs()[0]
    assert rid == "fn-run"
    _check_download(download_root / rid, wandb_server.run(rid))


@env.task
async def fetch_logs(run_id: str) -> flyte.io.Dir:
    return await download_wandb_run_logs(run_id, project="dl", entity="e")


def test_download_run_logs_is_a_traced_dir(wandb_server: LoopbackServer, download_root: Path, tmp_path: Path) -> None:
    rid = run_local(train_sync, 2, name="tr").outputs()[0]
    out = run_local(fetch_logs, rid, name="fetch").outputs()[0]
    assert isinstance(out, flyte.io.Dir)
    local = Path(out.path)
    if not local.exists():  # a remote-style path: bring it back
        local = Path(flyte.io.Dir.download_sync(out, str(tmp_path / "back")))
    assert (local / "summary.json").exists() and (local / "config.yaml").exists()


@env.task
async def evaluate() -> str:
    # No run id: the run the tracked parent advertised (id, project, entity) in custom_context.
    return download_wandb_run_dir(path=str(Path.cwd() / "eval"))


def test_download_run_dir_defaults_to_the_advertised_run(wandb_server: LoopbackServer) -> None:
    rid = run_local(train_sync, 2, name="adv").outputs()[0]
    advertised = {"_wandb_run_id": rid, "_wandb_run_project": "dl", "_wandb_run_entity": "e"}
    path = Path(run_local(evaluate, name="ev", custom_context=advertised).outputs()[0])
    assert json.loads((path / "summary.json").read_text())["loss"] == 1.0
    assert (path / "config.yaml").read_bytes() == wandb_server.run(rid).files["config.yaml"]


def test_download_run_dir_reads_everything_and_handles_many_files(wandb_server: LoopbackServer, tmp_path: Path) -> None:
    import wandb

    run = wandb.init(project="p", entity="e", id="many")
    for i in range(30):
        (Path(run.dir) / "parts").mkdir(exist_ok=True)
        (Path(run.dir) / "parts" / f"f{i:02d}.bin").write_bytes(bytes([i]) * (100 + i))
    run.save(str(Path(run.dir) / "parts" / "*.bin"), base_path=run.dir)
    for i in range(1200):  # more than one history page
        run.log({"v": i})
    run.finish()
    path = Path(download_wandb_run_dir("many", path=str(tmp_path / "out"), project="p", entity="e"))
    stored = wandb_server.run("many")
    assert len([n for n in stored.files if n.startswith("parts/")]) == 30
    for name, data in stored.files.items():
        assert (path / name).read_bytes() == data
    history = json.loads((path / "metrics_history.json").read_text())
    assert [row["v"] for row in history] == list(range(1200))
    no_history = Path(download_wandb_run_dir("many", str(tmp_path / "nh"), False, project="p", entity="e"))
    assert not (no_history / "metrics_history.json").exists() and (no_history / "summary.json").exists()


NO_PANDAS = textwrap.dedent(
    """
    import json, sys
    sys.modules["pandas"] = None  # `import pandas` now fails exactly as when it is not installed
    from flyteplugins.wandb import download_wandb_run_dir
    path = download_wandb_run_dir("pd", path=sys.argv[1], project="p", entity="e")
    print(json.dumps(json.load(open(path + "/metrics_history.json"))))
    """
)


def test_download_works_with_and_without_pandas(wandb_server: LoopbackServer, tmp_path: Path) -> None:
    import wandb

    run = wandb.init(project="p", entity="e", id="pd")
    for i in range(3):
        run.log({"v": i})
    run.finish()
    # pandas is installed here, and wandb's history() then returns a DataFrame (what broke 2.12.1).
    assert type(wandb.Api().run("e/p/pd").history()).__name__ == "DataFrame"
    path = Path(download_wandb_run_dir("pd", path=str(tmp_path / "with"), project="p", entity="e"))
    assert [row["v"] for row in json.loads((path / "metrics_history.json").read_text())] == [0, 1, 2]

    script = tmp_path / "no_pandas.py"
    script.write_text(NO_PANDAS)
    out = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "without")], capture_output=True, text=True, timeout=180
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert [row["v"] for row in json.loads(out.stdout.strip().splitlines()[-1])] == [0, 1, 2]


def test_download_errors_are_clear_and_keep_the_wandb_error(wandb_server: LoopbackServer, tmp_path: Path) -> None:
    import wandb

    with pytest.raises(RuntimeError, match="no run_id given and no W&B run is active") as info:
        download_wandb_run_dir()
    assert info.value.__cause__ is None
    with pytest.raises(
        RuntimeError, match=r"Failed to fetch wandb run 'e/p/missing': it was not found on http://127"
    ) as info:
        download_wandb_run_dir("missing", str(tmp_path / "m"), project="p", entity="e")
    assert isinstance(info.value.__cause__, wandb.errors.CommError)
    wandb_server.kill()
    with pytest.raises(RuntimeError, match=r"Cannot download from W&B: .* is unreachable"):
        download_wandb_run_dir("missing", str(tmp_path / "m"), project="p", entity="e")


def test_download_auth_failure_names_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import wandb

    with LoopbackServer(api_key="k" * 40) as server:
        monkeypatch.setenv("WANDB_BASE_URL", server.url)
        monkeypatch.setenv("WANDB_API_KEY", "w" * 40)
        with pytest.raises(RuntimeError, match=r"Authentication failed .* WANDB_API_KEY") as info:
            download_wandb_run_dir("r1", str(tmp_path / "a"), project="p", entity="e")
        assert isinstance(info.value.__cause__, wandb.errors.AuthenticationError)
        wandb.teardown()


def _sweep(n: int) -> str:
    """A sweep with ``n`` finished trial runs (the sweep id set as the agent sets it, minus its pacing)."""
    import wandb

    sweep_id = wandb.sweep({"method": "grid", "parameters": {"a": {"values": list(range(n))}}}, project="p", entity="e")
    for a in range(n):
        run = wandb.init(
            project="p",
            entity="e",
            id=f"{sweep_id}-t{a}",
            config={"a": a},
            reinit="create_new",
            settings=wandb.Settings(sweep_id=sweep_id),
        )
        run.log({"a2": a**2})
        run.finish()
    return sweep_id


def test_download_sweep_dirs_gets_every_run(wandb_server: LoopbackServer, tmp_path: Path) -> None:
    sweep_id = _sweep(3)
    assert len(wandb_server.sweep(sweep_id).run_names) == 3
    paths = download_wandb_sweep_dirs(sweep_id, str(tmp_path / "sw"), project="p", entity="e")
    runs = {r.id: r for r in wandb_server.runs() if r.sweep == sweep_id}
    assert sorted(Path(p).name for p in paths) == sorted(runs)
    for p in paths:
        history = json.loads((Path(p) / "metrics_history.json").read_text())
        assert [row["a2"] for row in history] == runs[Path(p).name].metric("a2")


def test_download_sweep_partial_failure_warns_and_returns_what_worked(
    wandb_server: LoopbackServer, tmp_path: Path
) -> None:
    sweep_id = _sweep(2)
    bad, good = sorted(r.id for r in wandb_server.runs() if r.sweep == sweep_id)
    # Make one run's directory impossible to create: a file sits where it must go.
    (tmp_path / "sw").mkdir()
    (tmp_path / "sw" / bad).write_text("in the way")
    with pytest.warns(RuntimeWarning, match=f"Failed to download 1/2 runs of W&B sweep .*{bad}.* Downloaded 1 of 2"):
        paths = download_wandb_sweep_dirs(sweep_id, str(tmp_path / "sw"), project="p", entity="e")
    assert paths == [str(tmp_path / "sw" / good)]
    (tmp_path / "sw2").mkdir()
    for name in (bad, good):
        (tmp_path / "sw2" / name).write_text("in the way")
    with pytest.raises(RuntimeError, match="Failed to download all 2 runs") as info:
        download_wandb_sweep_dirs(sweep_id, str(tmp_path / "sw2"), project="p", entity="e")
    assert info.value.__cause__ is not None
    with pytest.raises(RuntimeError, match="not found on") as info:
        download_wandb_sweep_dirs("nosuchsw", str(tmp_path / "sw3"), project="p", entity="e")
