"""The fake W&B server, driven by the unmodified wandb SDK; every check reads what the server stored.

The SDK often exits 0 after losing data (notes: shared/wandb-protocol-notes.md, gotcha 1), so these
tests never trust the client: they assert on runs, history, summary, files and sweeps on the server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest
import wandb
from wandb_loopback import LoopbackServer, controller

# The server and the SDK talk over 127.0.0.1; anything else stays blocked under pytest-socket.
pytestmark = pytest.mark.wandb_loopback


def _init(**kwargs):
    kwargs.setdefault("project", "p")
    kwargs.setdefault("entity", "e")
    return wandb.init(**kwargs)


# -- runs --------------------------------------------------------------------------------------------


def test_init_log_finish_stores_history_summary_config_and_files(wandb_server: LoopbackServer) -> None:
    run = _init(id="r1", config={"lr": 0.1, "layers": [1, 2]}, tags=["t1"], group="g", job_type="train")
    for i in range(3):
        run.log({"loss": 1.0 / (i + 1)})
    (Path(run.dir) / "notes.txt").write_text("user file")
    run.save(str(Path(run.dir) / "notes.txt"), base_path=run.dir)
    run.log({"page": wandb.Html("<b>hi</b>")})
    run.summary["best"] = 0.25
    run.finish()

    stored = wandb_server.run("r1")
    assert stored.path == "e/p/r1"
    assert stored.state == "finished" and stored.exit_code == 0 and stored.finish_count == 1
    assert stored.config == {"lr": 0.1, "layers": [1, 2]}
    assert stored.tags == ["t1"] and stored.group == "g" and stored.job_type == "train"
    assert stored.metric("loss") == [1.0, 0.5, pytest.approx(1 / 3)]
    assert [row["_step"] for row in stored.history] == [0, 1, 2, 3]
    assert stored.summary["best"] == 0.25 and stored.summary["loss"] == pytest.approx(1 / 3)
    assert stored.files["notes.txt"] == b"user file"
    assert {"config.yaml", "wandb-summary.json", "wandb-metadata.json"} <= set(stored.files)
    media = [name for name in stored.files if name.startswith("media/html/")]
    assert len(media) == 1 and b"<b>hi</b>" in stored.files[media[0]]
    assert wandb_server.unknown_operations == []


def test_run_without_entity_lands_in_the_viewers_entity(wandb_server: LoopbackServer) -> None:
    run = wandb.init(project="p", id="noent")
    run.log({"x": 1})
    run.finish()
    assert wandb_server.run("noent").path == "loopback/p/noent"


def test_failed_run_records_its_exit_code(wandb_server: LoopbackServer) -> None:
    run = _init(id="bad")
    run.log({"x": 1})
    run.finish(exit_code=3)
    stored = wandb_server.run("bad")
    assert stored.state == "failed" and stored.exit_code == 3


def test_resume_allow_continues_steps_and_merges_config(wandb_server: LoopbackServer) -> None:
    run = _init(id="res", config={"a": 1})
    for i in range(3):
        run.log({"m": i})
    run.finish()
    run = _init(id="res", resume="allow", config={"b": 2}, reinit="create_new")
    assert run.resumed
    for i in range(2):
        run.log({"m": 10 + i})
    run.finish()

    stored = wandb_server.run("res")
    assert [row["_step"] for row in stored.history] == [0, 1, 2, 3, 4]
    assert stored.metric("m") == [0, 1, 2, 10, 11]
    assert stored.config == {"a": 1, "b": 2}
    assert stored.sessions == 2 and stored.state == "finished" and stored.exit_code == 0


SHARED_WRITER = textwrap.dedent(
    """
    import sys, time, wandb
    role, primary = sys.argv[1], sys.argv[1] == "primary"
    settings = wandb.Settings(mode="shared", x_primary=primary, x_label=role,
                              x_update_finish_state=primary)
    run = wandb.init(project="p", entity="e", id="shr", settings=settings, config={role + "_cfg": 1})
    for i in range(3):
        run.log({role + "/m": i})
    run.summary[role + "_final"] = 9
    print("hello from " + role, flush=True)
    if primary:
        # Stay open until the secondary has finished its part, as a parent task waits for its child.
        while not __import__("os").path.exists(sys.argv[2]):
            time.sleep(0.05)
    run.finish()
    """
)


def test_shared_mode_merges_writers_and_only_the_primary_finishes(wandb_server: LoopbackServer, tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(SHARED_WRITER)
    flag = tmp_path / "secondary-done"
    env = {**os.environ, "WANDB_CONSOLE": "wrap"}
    primary = subprocess.Popen([sys.executable, str(script), "primary", str(flag)], env=env)
    wandb_server.wait_for(lambda: wandb_server.store.find_run("shr"), what="the primary's run")
    secondary = subprocess.run([sys.executable, str(script), "child"], env=env, timeout=120)
    flag.write_text("done")
    assert secondary.returncode == 0 and primary.wait(timeout=120) == 0

    stored = wandb_server.run("shr")
    assert len(wandb_server.runs()) == 1
    assert stored.metric("primary/m") == [0, 1, 2] and stored.metric("child/m") == [0, 1, 2]
    assert stored.config == {"primary_cfg": 1, "child_cfg": 1}
    assert stored.summary["primary_final"] == 9 and stored.summary["child_final"] == 9
    assert len(stored.shared_clients) == 2
    assert stored.finish_count == 1 and stored.state == "finished" and stored.exit_code == 0
    # Each writer's console goes to the run's log (labelled) and to its own output_<label>.log file.
    assert {"output_primary.log", "output_child.log"} <= set(stored.files)
    assert {"[primary] hello from primary", "[child] hello from child"} <= set(stored.console)


# -- public API ----------------------------------------------------------------------------------------


def test_public_api_reads_run_files_summary_and_history(wandb_server: LoopbackServer, tmp_path: Path) -> None:
    run = _init(id="api", config={"lr": 0.5})
    for i in range(5):
        run.log({"loss": 5 - i, "acc": i / 10})
    (Path(run.dir) / "blob.bin").write_bytes(bytes(range(256)) * 40)
    run.save(str(Path(run.dir) / "blob.bin"), base_path=run.dir)
    run.finish()

    api = wandb.Api()
    api_run = api.run("e/p/api")
    assert api_run.state == "finished" and api_run.config == {"lr": 0.5}
    assert api_run.summary["loss"] == 1
    names = sorted(f.name for f in api_run.files())
    assert names == sorted(wandb_server.run("api").files)
    blob = next(f for f in api_run.files() if f.name == "blob.bin")
    blob.download(root=str(tmp_path / "dl"), replace=True).close()
    assert (tmp_path / "dl" / "blob.bin").read_bytes() == bytes(range(256)) * 40
    assert [r["loss"] for r in api_run.history(pandas=False)] == [5, 4, 3, 2, 1]
    assert [r["loss"] for r in api_run.scan_history()] == [5, 4, 3, 2, 1]
    assert [r["acc"] for r in api_run.scan_history(keys=["acc"])] == [0, 0.1, 0.2, 0.3, 0.4]
    assert wandb_server.unknown_operations == []


def test_public_api_runs_are_filtered_and_ordered_by_the_server(wandb_server: LoopbackServer) -> None:
    for name, lr, loss in (("a", 0.1, 3.0), ("b", 0.2, 1.0), ("c", 0.3, 2.0)):
        run = _init(id=name, config={"lr": lr}, tags=[name], reinit="create_new")
        run.log({"loss": loss})
        run.finish()
    api = wandb.Api()
    assert len(api.runs("e/p")) == 3
    assert [r.id for r in api.runs("e/p", filters={"config.lr": {"$gte": 0.2}}, order="+created_at")] == ["b", "c"]
    assert [r.id for r in api.runs("e/p", order="+summary_metrics.loss")] == ["b", "c", "a"]
    assert [r.id for r in api.runs("e/p", filters={"$or": [{"tags": "a"}, {"tags": "c"}]}, order="+created_at")] == [
        "a",
        "c",
    ]


# -- sweeps ----------------------------------------------------------------------------------------

# The controller's engine: W&B's (`sweeps`, the package's optional extra), else that of
# flyteplugins-wandb-sweeps. The workspace has both; the `tests-testing` session neither (skipped).
ENGINES = {"sweeps": ("sweeps", "next_run"), "flyteplugins": ("flyteplugins.wandb_sweeps._engine", "next_params")}


@pytest.fixture(params=sorted(ENGINES))
def sweep_engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each engine in turn: the other is hidden from the controller, as if it were not installed."""
    name, attribute = ENGINES[request.param]
    if controller._import(name, attribute) is None:
        pytest.skip(f"the {request.param} sweep engine is not installed")
    real = controller._import

    def only_this(module: str, attr: str) -> object:
        return real(module, attr) if module == name else None

    monkeypatch.setattr(controller, "_import", only_this)
    return request.param


def _trial() -> None:
    run = wandb.init()
    run.log({"loss": run.config["a"] * (2 if run.config["b"] == "x" else 3)})
    run.finish()


def test_grid_sweep_runs_every_point_once_and_finishes(wandb_server: LoopbackServer, sweep_engine: str) -> None:
    sweep_id = wandb.sweep(
        {
            "method": "grid",
            "metric": {"name": "loss", "goal": "minimize"},
            "parameters": {"a": {"values": [1, 2]}, "b": {"values": ["x", "y"]}},
        },
        project="p",
        entity="e",
    )
    # An agent stopped by `count` leaves the rest of the grid to the next one.
    wandb.agent(sweep_id, function=_trial, count=2)
    assert len(wandb_server.sweep(sweep_id).run_names) == 2
    wandb.agent(sweep_id, function=_trial)

    sweep = wandb_server.sweep(sweep_id)
    runs = [r for r in wandb_server.runs() if r.sweep == sweep_id]
    assert sorted((r.config["a"], r.config["b"]) for r in runs) == [(1, "x"), (1, "y"), (2, "x"), (2, "y")]
    assert {r.state for r in runs} == {"finished"}
    assert sweep.state == "FINISHED"
    assert any(c["type"] == "exit" for a in sweep.agents.values() for c in a.commands)
    agents = wandb_server.agents(sweep_id)
    assert len(agents) == 2 and {a.id for a in agents} == set(sweep.agents)
    assert sum(c["type"] == "run" for a in agents for c in a.commands) == 4

    api_sweep = wandb.Api().sweep(f"e/p/{sweep_id}")
    assert api_sweep.state == "FINISHED" and len(api_sweep.runs) == 4
    assert api_sweep.best_run().summary["loss"] == 2
    assert wandb_server.unknown_operations == []


def test_random_sweep_samples_within_the_bounds(wandb_server: LoopbackServer, sweep_engine: str) -> None:
    sweep_id = wandb.sweep(
        {
            "method": "random",
            "parameters": {
                "lr": {"min": 0.001, "max": 0.1, "distribution": "log_uniform_values"},
                "opt": {"values": ["adam", "sgd"]},
                "fixed": {"value": 7},
            },
        },
        project="p",
        entity="e",
    )

    def trial() -> None:
        run = wandb.init()
        run.log({"loss": run.config["lr"]})
        run.finish()

    wandb.agent(sweep_id, function=trial, count=3)
    runs = [r for r in wandb_server.runs() if r.sweep == sweep_id]
    assert len(runs) == 3
    for run in runs:
        assert 0.001 <= run.config["lr"] <= 0.1
        assert run.config["opt"] in ("adam", "sgd") and run.config["fixed"] == 7
        assert run.metric("loss") == [run.config["lr"]]
    assert len({r.config["lr"] for r in runs}) == 3
    api_runs = wandb.Api().runs("e/p", filters={"sweep": sweep_id})
    assert sorted(r.id for r in api_runs) == sorted(r.id for r in runs)


# W&B's engine ran bayes before the fallback existed; its GP fits make it the slow half, so only the new path.
@pytest.mark.parametrize("sweep_engine", ["flyteplugins"], indirect=True)
def test_bayes_sweep_suggests_inside_the_space_from_the_finished_runs(
    wandb_server: LoopbackServer, sweep_engine: str
) -> None:
    sweep_id = wandb.sweep(
        {
            "method": "bayes",
            "metric": {"name": "loss", "goal": "minimize"},
            "parameters": {"x": {"min": -2.0, "max": 2.0}, "n": {"values": [1, 2]}},
        },
        project="p",
        entity="e",
    )

    def trial() -> None:
        run = wandb.init()
        run.log({"loss": (run.config["x"] - 1.0) ** 2 + run.config["n"]})
        run.finish()

    wandb.agent(sweep_id, function=trial, count=4)
    runs = [r for r in wandb_server.runs() if r.sweep == sweep_id]
    assert len(runs) == 4 and {r.state for r in runs} == {"finished"}
    assert all(-2.0 <= r.config["x"] <= 2.0 and r.config["n"] in (1, 2) for r in runs)
    assert len({r.config["x"] for r in runs}) == 4


# -- failure switches ------------------------------------------------------------------------------------


def test_transient_5xx_is_retried_by_the_sdk_and_the_data_arrives(wandb_server: LoopbackServer) -> None:
    fault = wandb_server.fail(503, match="UpsertBucket", times=1)
    run = _init(id="flaky")
    run.log({"x": 1})
    run.finish()
    assert fault.hits == 1
    assert wandb_server.run("flaky").metric("x") == [1]


def test_killed_server_refuses_connections_and_restarts_with_its_data(wandb_server: LoopbackServer) -> None:
    run = _init(id="k1")
    run.log({"x": 1})
    run.finish()
    wandb_server.kill()
    with pytest.raises(OSError):
        urllib.request.urlopen(wandb_server.url + "/", timeout=5)
    wandb_server.restart()
    with urllib.request.urlopen(wandb_server.url + "/", timeout=5) as resp:
        assert resp.status == 200
    assert wandb_server.run("k1").metric("x") == [1]


def test_server_killed_mid_run_and_restarted_still_gets_the_whole_run(wandb_server: LoopbackServer) -> None:
    run = _init(id="mid")
    run.log({"x": 1})
    wandb_server.kill()  # connections refused while the run goes on logging
    run.log({"x": 2})
    wandb_server.restart()
    run.log({"x": 3})
    run.finish()
    stored = wandb_server.run("mid")
    assert stored.metric("x") == [1, 2, 3]
    assert stored.state == "finished" and stored.exit_code == 0 and stored.finish_count == 1


def test_standalone_process_serves_a_wandb_script(tmp_path: Path) -> None:
    """``python -m wandb_loopback`` (what a user runs by hand), then a plain wandb script against it."""
    server = subprocess.Popen(
        [sys.executable, "-m", "wandb_loopback", "--port", "0"], cwd=tmp_path, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        env_lines = dict(server.stdout.readline().strip().split("=", 1) for _ in range(2))
        assert env_lines["WANDB_BASE_URL"].startswith("http://127.0.0.1:")
        assert len(env_lines["WANDB_API_KEY"]) >= 40
        script = "import wandb\nr = wandb.init(project='p', entity='e', id='s1')\nr.log({'v': 42})\nr.finish()\n"
        done = subprocess.run(
            [sys.executable, "-c", script], env={**os.environ, **env_lines}, cwd=tmp_path, timeout=120
        )
        assert done.returncode == 0
        with urllib.request.urlopen(env_lines["WANDB_BASE_URL"] + "/_loopback/state", timeout=10) as resp:
            state = json.loads(resp.read())
        (run,) = state["runs"]
        assert run["id"] == "s1" and run["state"] == "finished"
        assert [row["v"] for row in run["history"]] == [42]
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()


def test_server_binds_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback"):
        LoopbackServer(host="0.0.0.0")
    with LoopbackServer() as server:
        assert server.url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(server.url + "/", timeout=5) as resp:
            assert resp.status == 200


# -- records use the SDK's names; only runs are listed; the fixture keeps ./wandb clean ---------------


def test_run_record_names_match_the_sdk_run(wandb_server: LoopbackServer) -> None:
    run = _init(id="named-1", name="my display name")
    run_id, display = run.id, run.name
    run.finish()
    unnamed = _init(id="unnamed-1")
    unnamed_name = unnamed.name
    unnamed.finish()

    stored = wandb_server.run("named-1")
    assert (stored.id, stored.name) == (run_id, display) == ("named-1", "my display name")
    assert stored.path == "e/p/named-1"
    # The GraphQL node id is there under its own name, and is what the public API calls Run.id's node.
    assert stored.node_id != stored.id and wandb.Api().run("e/p/named-1").storage_id == stored.node_id
    assert wandb_server.run("unnamed-1").name == unnamed_name


def test_runs_never_lists_the_servers_artifact_storage(wandb_server: LoopbackServer, tmp_path: Path) -> None:
    (tmp_path / "data.txt").write_text("payload")
    run = _init(id="producer")
    artifact = wandb.Artifact("data", type="dataset")
    artifact.add_file(str(tmp_path / "data.txt"))
    run.log_artifact(artifact).wait()
    run.finish()

    assert [r.path for r in wandb_server.runs()] == ["e/p/producer"]
    (row,) = wandb_server.artifact_lineage()
    assert row["logged_by"] == "producer"


def test_the_fixture_points_wandb_dir_at_the_tests_tmp_path(
    wandb_server: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd = tmp_path / "project"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    assert os.environ["WANDB_DIR"] == str(tmp_path)
    run = _init(id="dirs")
    run.log({"x": 1})
    run.finish()
    assert not (cwd / "wandb").exists()
    assert list((tmp_path / "wandb").glob("run-*-dirs"))
