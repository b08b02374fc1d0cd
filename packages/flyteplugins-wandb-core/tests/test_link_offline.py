"""A run known to be offline when its link is rendered links to where its files are kept.

The store location is what `_persist.location()` says for the submitting action (on a cluster, the
bucket of its raw-data path); the pod-simulator test (integration-tests/cluster/
test_persist_on_cluster.py) renders the link through Flyte's own task serialization.
"""

from __future__ import annotations

import pytest

from flyteplugins.wandb_core import _link, _persist
from flyteplugins.wandb_core._link import Wandb

STORE_LINK = "s3://bucket/wandb-offline/r1/"
WANDB_LINK = "https://wandb.ai/e/p/runs/r1-a1"


@pytest.fixture
def on_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_persist, "location", lambda: _persist.Location("s3://bucket", "r1", "a0", 0))


def _render(link: Wandb, context: dict[str, str] | None = None, run_name: str = "r1") -> str:
    return link.get_link(run_name, "fp", "dev", context or {}, "a0", "a1", "pod")


@pytest.mark.parametrize(
    ("task_mode", "context_mode", "env_mode", "offline"),
    [
        ("offline", None, None, True),
        (None, "offline", None, True),
        (None, None, "offline", True),
        ("online", "offline", "offline", False),  # the task's mode= wins over the context's
        (None, "online", "offline", False),  # the context's over the environment's WANDB_MODE
        (None, None, None, False),  # no key or a fail-open fallback: decided at run time
    ],
)
def test_the_mode_known_at_submit_decides(
    on_cluster: None, task_mode: str | None, context_mode: str | None, env_mode: str | None, offline: bool
) -> None:
    link = Wandb(project="p", entity="e", run_mode="new", _mode=task_mode, _env_mode=env_mode)
    context = {"wandb_mode": context_mode} if context_mode else {}
    assert _render(link, context) == (STORE_LINK if offline else WANDB_LINK)


def test_the_label_says_offline_when_the_task_fixes_it() -> None:
    assert Wandb(_mode="offline").name == "Weights & Biases (offline)"
    assert Wandb(_mode="offline", name="Mine").name == "Mine"
    assert Wandb().name == "Weights & Biases"


def test_local_mode_and_templated_names_keep_the_wandb_link(on_cluster: None, monkeypatch: pytest.MonkeyPatch) -> None:
    link = Wandb(project="p", entity="e", run_mode="new", _mode="offline")
    assert _render(link, run_name="{{.runName}}").startswith("https://wandb.ai/e/p/runs/")
    monkeypatch.setattr(_persist, "location", lambda: None)  # local mode, or outside a task
    assert _render(link) == WANDB_LINK
    assert _link.offline_location("offline", "r1") is None
