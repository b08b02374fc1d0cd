"""The server's W&B Registry links and run rewind, driven by the real wandb SDK."""

from __future__ import annotations

from pathlib import Path

import wandb
from wandb_loopback import LoopbackServer


def test_rewind_keeps_history_up_to_the_step_and_the_new_session_goes_on(wandb_server: LoopbackServer) -> None:
    run = wandb.init(project="rw", id="r1")
    for step in range(8):
        run.log({"loss": float(step)}, step=step)
    run.finish()
    run = wandb.init(project="rw", id="r1", resume_from="r1?_step=4")
    assert run.starting_step == 5  # wandb continues after the step it rewound to
    for step in range(5, 10):
        run.log({"loss": 100.0 + step}, step=step)
    run.finish()
    stored = wandb_server.run("r1")
    assert [(r["_step"], r["loss"]) for r in stored.history] == [
        *[(s, float(s)) for s in range(5)],
        *[(s, 100.0 + s) for s in range(5, 10)],
    ]
    assert stored.rewinds == [4]
    assert stored.summary["loss"] == 109.0
    assert not wandb_server.unknown_operations


def test_link_moves_aliases_and_a_linked_version_cannot_be_deleted(
    wandb_server: LoopbackServer, tmp_path: Path
) -> None:
    run = wandb.init(project="p", id="producer")
    logged = []
    for payload in (b"one", b"two"):
        (tmp_path / "m.bin").write_bytes(payload)
        art = wandb.Artifact("m", type="model")
        art.add_file(str(tmp_path / "m.bin"))
        logged.append(run.log_artifact(art))
        run.link_artifact(logged[-1], "wandb-registry-model/demo", aliases=["staging"])
    run.finish()
    links = [link for row in wandb_server.artifact_lineage() for link in row["links"]]
    assert links == [
        {"target": "loopback-org/wandb-registry-model/demo:v0", "aliases": []},
        {"target": "loopback-org/wandb-registry-model/demo:v1", "aliases": ["staging", "latest"]},
    ]
    api = wandb.Api()
    first = api.artifact("loopback/p/m:v0")
    assert [a.qualified_name for a in first.linked_artifacts] == ["loopback-org/wandb-registry-model/demo:v0"]
    try:
        first.delete()
    except Exception as exc:  # the SDK wraps the server's refusal
        assert "registry links" in str(exc)
    else:
        raise AssertionError("a linked version was deleted")
    assert len(wandb_server.artifact_lineage()) == 2
