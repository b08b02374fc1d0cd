"""The report tab lists the artifacts a task logged and used, with their W&B version and link.

Real tasks in Flyte local mode: online against the loopback W&B server (versions and URLs come from
the server's commit), offline with real offline run files (no version until ``wandb sync``).
"""

from __future__ import annotations

import os
import tempfile

import flyte
import pytest
from report_html import TAB

from flyteplugins.wandb import get_wandb_run, log_wandb_artifact, use_wandb_artifact, wandb_init

pytestmark = pytest.mark.integration

env = flyte.TaskEnvironment(name="report_artifacts")


def _write(text: str) -> str:
    path = os.path.join(tempfile.mkdtemp(prefix="rep-art-"), "data.txt")
    with open(path, "w") as f:
        f.write(text)
    return path


@wandb_init(project="repart")
@env.task(report=True)
def produce_and_use() -> str:
    log_wandb_artifact(_write("a"), name="ds", type="dataset")
    return get_wandb_run().id


@wandb_init(project="repart")
@env.task(report=True)
def use_then_log() -> str:
    use_wandb_artifact("ds:latest", type="dataset")
    log_wandb_artifact(_write("b"), name="ds", type="dataset")  # a second version
    return get_wandb_run().id


def _rows(rep) -> dict[str, list[str]]:
    [table] = rep.tab().find_all("table", cls="fwb-artifacts")
    out = {}
    for tr in table.find_all("tr"):
        if "data-artifact" in tr.attrs:
            cells = tr.find_all("td")
            key = f"{tr.attrs['data-artifact']}/{cells[2].text}"
            links = [a.attrs["href"] for a in cells[3].find_all("a")]
            out[key] = [cells[1].text, cells[3].text, *links]
    return out


def test_online_tab_links_each_logged_and_used_artifact_version(run_with_report, wandb_server) -> None:
    first = run_with_report(produce_and_use)
    assert first.tab_names() == [TAB]
    [row] = _rows(first).values()
    kind, version, url = row
    assert (kind, version) == ("dataset", "v0")
    assert url.startswith(wandb_server.url) and "/repart/artifacts/dataset/ds/v0" in url

    second = run_with_report(use_then_log)
    rows = _rows(second)
    assert rows["ds/used"][:2] == ["dataset", "v0"]
    assert rows["ds/logged"][:2] == ["dataset", "v1"]
    assert rows["ds/logged"][2].endswith("/ds/v1")


def test_offline_tab_says_the_version_comes_with_wandb_sync(run_with_report, wandb_dir) -> None:
    rep = run_with_report(produce_and_use)
    [(kind, where)] = _rows(rep).values()
    assert kind == "dataset"
    assert where.startswith("offline:") and "wandb sync" in where
