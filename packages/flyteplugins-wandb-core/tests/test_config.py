"""wandb_config encoding, compatibility with the existing plugin's keys, and validation."""

from __future__ import annotations

import json

import pytest

from flyteplugins.wandb_core import WandbConfigError, wandb_config
from flyteplugins.wandb_core._config import parse_context
from flyteplugins.wandb_core._validate import is_secret_name


def test_config_is_a_str_dict_with_the_existing_plugin_keys() -> None:
    cfg = wandb_config(
        project="p", entity="e", tags=["a"], config={"lr": 0.1}, run_mode="new", download_logs=True, save_code=True
    )
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in cfg.items())
    assert cfg["wandb_project"] == "p" and cfg["wandb_entity"] == "e"
    assert json.loads(cfg["wandb_tags"]) == ["a"]
    assert json.loads(cfg["wandb_config"]) == {"lr": 0.1}
    assert cfg["wandb_run_mode"] == "new"
    assert json.loads(cfg["wandb_download_logs"]) is True
    assert json.loads(cfg["wandb_kwargs"]) == {"save_code": True}


def test_round_trip_and_attribute_access() -> None:
    cfg = wandb_config(project="123", tags=["x"], config={"a": [1, 2]})
    assert cfg.project == "123"  # a numeric-looking string stays a string
    assert cfg.tags == ["x"] and cfg.config == {"a": [1, 2]}
    assert cfg.entity is None


def test_reads_context_written_by_the_existing_plugin() -> None:
    legacy = {
        "wandb_project": "p",
        "wandb_run_mode": "auto",
        "wandb_rank_scope": "global",
        "wandb_download_logs": "false",
        "wandb_tags": '["a"]',
        "wandb_kwargs": '{"notes": "n"}',
        "wandb_sweep_method": "grid",
        "_wandb_run_id": "r-a0",
    }
    parsed = parse_context(legacy)
    assert parsed == {
        "project": "p",
        "run_mode": "auto",
        "rank_scope": "global",
        "download_logs": False,
        "tags": ["a"],
        "kwargs": {"notes": "n"},
    }


def test_unset_values_are_not_written() -> None:
    assert dict(wandb_config(project="p")) == {"wandb_project": "p"}


@pytest.mark.parametrize(
    "name",
    [
        "api_key",
        "apiKey",
        "WANDB_API_KEY",
        "access_token",
        "client_secret",
        "password",
        "token",
        "key",
        "aws_secret_key",
        "private_key",
    ],
)
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name", ["max_tokens", "tokenizer", "num_keys", "key_dim", "project", "monkey_count", "secretary"]
)
def test_ordinary_names(name: str) -> None:
    assert not is_secret_name(name)


def test_error_names_argument_and_allowed_values() -> None:
    with pytest.raises(WandbConfigError) as info:
        wandb_config(run_mode="always")
    assert "run_mode='always'" in str(info.value) and "'auto', 'new', 'shared'" in str(info.value)


def test_finish_timeout_must_be_positive() -> None:
    with pytest.raises(WandbConfigError, match="finish_timeout"):
        wandb_config(finish_timeout=0)


def test_missing_extra_names_the_extra_to_install() -> None:
    import importlib.util

    import flyteplugins.wandb_core as fw

    for name, extra, module in [
        ("wandb_sweep", "sweeps", "flyteplugins.wandb_sweeps"),
        ("get_distributed_info", "distributed", "flyteplugins.wandb_distributed"),
    ]:
        if importlib.util.find_spec(module) is not None:
            continue  # installed in this environment: the packaging smoke test covers the other case
        with pytest.raises(ImportError, match=rf"pip install 'flyteplugins-wandb\[{extra}\]'"):
            getattr(fw, name)
