"""Rewind on resume, as pure logic: which inits rewind, and the fallback where a server cannot."""

from __future__ import annotations

from typing import Any

import pytest

from flyteplugins.wandb_core import _checkpoint


class FakeWandb:
    """Records each wandb.init; refuses resume_from like a server without rewind when told to."""

    def __init__(self, refuse: bool) -> None:
        self.refuse = refuse
        self.calls: list[dict[str, Any]] = []

    def init(self, **kwargs: Any) -> str:
        self.calls.append(kwargs)
        if self.refuse and "resume_from" in kwargs:
            raise RuntimeError("failed to rewind run: rewindRun is not enabled")
        return "run"


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_checkpoint, "_unsupported", set())
    monkeypatch.setattr(_checkpoint, "checkpoint_step", lambda wandb, kwargs, base_url: 10)


RESUME = {"id": "r1", "project": "p", "resume": "allow"}


def test_a_resumed_run_with_a_checkpoint_is_rewound_to_it() -> None:
    wandb = FakeWandb(refuse=False)
    _checkpoint.rewind_init(wandb.init, dict(RESUME), None, "http://x")
    assert [c.get("resume_from") for c in wandb.calls] == ["r1?_step=10"]
    assert "resume" not in wandb.calls[0]  # wandb refuses resume and resume_from together


def test_a_server_without_rewind_falls_back_with_one_notice(capsys: pytest.CaptureFixture[str]) -> None:
    wandb = FakeWandb(refuse=True)
    _checkpoint.rewind_init(wandb.init, dict(RESUME), None, "http://x")
    _checkpoint.rewind_init(wandb.init, dict(RESUME), None, "http://x")  # not tried again for that server
    assert [c.get("resume_from", c.get("resume")) for c in wandb.calls] == ["r1?_step=10", "allow", "allow"]
    assert capsys.readouterr().err.count("cannot rewind run") == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"id": "r1", "project": "p"},  # a new run: nothing to rewind
        {**RESUME, "mode": "offline"},  # offline: no server to rewind on
    ],
)
def test_other_inits_are_left_alone(kwargs: dict[str, Any]) -> None:
    wandb = FakeWandb(refuse=False)
    _checkpoint.rewind_init(wandb.init, dict(kwargs), None, "http://x")
    assert wandb.calls == [{**kwargs, "settings": None}]


def test_other_init_errors_are_not_swallowed() -> None:
    class Broken(FakeWandb):
        def init(self, **kwargs: Any) -> str:
            raise RuntimeError("permission denied")

    with pytest.raises(RuntimeError, match="permission denied"):
        _checkpoint.rewind_init(Broken(refuse=False).init, dict(RESUME), None, "http://x")
