"""wandb's private API: used only in ``_compat``, and present on the installed wandb.

The version-matrix session (nox ``matrix``) runs this on the oldest and newest supported wandb, so a
release that moves one of these names fails here, naming the helper to update, instead of silently
taking a fallback path in production.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from flyteplugins.wandb_core import _compat

PACKAGES = Path(__file__).resolve().parents[2]

# (module, attribute) that a _compat helper reaches; checked present on the installed wandb.
PRIVATE_NAMES = [
    ("wandb.sdk.wandb_init", "_set_global_run"),
    ("wandb.sdk.wandb_setup", "singleton"),
    ("wandb.proto.wandb_internal_pb2", "Record"),
    ("wandb", "Settings._offline"),
    ("wandb.sdk.wandb_run", "Run._finish"),
    ("wandb.integration.torch.wandb_torch", "TorchHistory.log_tensor_stats"),
]
RUN_ATTRIBUTES = ["_finish_timed_out", "_is_finished", "_torch_history"]

# What counts as wandb's private API when it appears in the packages' source.
PRIVATE_USE = re.compile(
    r"wandb\.sdk\b|wandb\.proto\b|InternalApi|_set_global_run|wandb_setup|\b_finish_timed_out|"
    r"\b_is_finished\b|\b_register_agent|\b_agent_heartbeat|wandb_internal_pb2|"
    r"\"_offline\"|settings\._offline|_torch_history|log_tensor_stats|\"_finish\""
)


@pytest.mark.parametrize(("module", "name"), PRIVATE_NAMES)
def test_the_private_names_compat_uses_exist_on_this_wandb(module: str, name: str) -> None:
    found = importlib.import_module(module)
    for part in name.split("."):  # "Class.attribute" too
        assert hasattr(found, part), f"{module}.{name} moved: update _compat"
        found = getattr(found, part)


@pytest.mark.parametrize("name", RUN_ATTRIBUTES)
def test_the_run_attributes_compat_reads_exist_on_this_wandb(name: str) -> None:
    from wandb.sdk.wandb_run import Run

    assert name in inspect.getsource(Run), f"wandb Run no longer sets {name}: update _compat"


def test_no_private_wandb_api_outside_compat() -> None:
    # The loopback server (flyteplugins-wandb-testing) implements the protocol's server side, whose
    # handler names mirror wandb's; it calls no wandb client internals.
    sources = [
        p
        for p in PACKAGES.glob("*/src/**/*.py")
        if p.name != "_compat.py" and not p.is_relative_to(PACKAGES / "flyteplugins-wandb-testing")
    ]
    assert len(sources) > 20  # the scan found the packages
    offenders = [
        f"{p.relative_to(PACKAGES)}:{n}: {line.strip()}"
        for p in sources
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if PRIVATE_USE.search(line) and not line.lstrip().startswith("#")
    ]
    assert offenders == []


def test_helpers_read_run_state_and_tolerate_missing_attributes() -> None:
    assert _compat.finish_timed_out(SimpleNamespace(_finish_timed_out=True))
    assert not _compat.finish_timed_out(SimpleNamespace())
    assert _compat.is_finished(SimpleNamespace(_is_finished=True))
    assert not _compat.is_finished(SimpleNamespace())


def test_record_class_parses_what_it_serialises() -> None:
    record = _compat.record_class()
    message = record()
    message.history.item.add(key="loss", value_json="0.5")
    parsed = record()
    parsed.ParseFromString(message.SerializeToString())
    assert parsed.WhichOneof("record_type") == "history"
    assert parsed.history.item[0].key == "loss"


def test_configured_base_url_is_a_url() -> None:
    assert _compat.configured_base_url().startswith(("http://", "https://"))
