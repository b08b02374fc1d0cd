"""wandb_sweep_config: key layout (shared with the existing plugin), parsing and validation."""

from __future__ import annotations

import json

import pytest

from flyteplugins.wandb_core import WandbConfigError
from flyteplugins.wandb_sweeps import wandb_sweep_config
from flyteplugins.wandb_sweeps._config import merge_values, parse_context, sweep_config_from_values
from flyteplugins.wandb_sweeps._sweep import offline_sweep_id, resolve_mode


def test_keys_use_the_existing_plugin_layout():
    cfg = wandb_sweep_config(
        method="bayes",
        metric={"name": "loss", "goal": "minimize"},
        parameters={"lr": {"min": 0.001, "max": 0.1}},
        project="p",
        entity="e",
        prior_runs=["r1"],
        download_logs=True,
        name="s",
        early_terminate={"type": "hyperband", "min_iter": 3},
        description="d",
    )
    assert all(isinstance(v, str) for v in cfg.values())
    assert cfg["wandb_sweep_method"] == "bayes"
    assert cfg["wandb_sweep_name"] == "s"
    assert json.loads(cfg["wandb_sweep_metric"]) == {"name": "loss", "goal": "minimize"}
    assert json.loads(cfg["wandb_sweep_prior_runs"]) == ["r1"]
    assert cfg["wandb_sweep_download_logs"] == "true"
    # Keys the existing plugin has no field for travel inside wandb_sweep_kwargs.
    assert json.loads(cfg["wandb_sweep_kwargs"]) == {
        "description": "d",
        "early_terminate": {"type": "hyperband", "min_iter": 3},
    }
    assert set(cfg) <= {
        f"wandb_sweep_{k}"
        for k in (
            "name",
            "method",
            "metric",
            "parameters",
            "project",
            "entity",
            "prior_runs",
            "download_logs",
            "kwargs",
        )
    }


def test_to_sweep_config_drops_placement_fields():
    cfg = wandb_sweep_config(
        method="grid",
        parameters={"a": {"values": [1]}},
        project="p",
        download_logs=False,
        early_terminate={"type": "hyperband", "min_iter": 2},
    )
    assert cfg.to_sweep_config() == {
        "method": "grid",
        "parameters": {"a": {"values": [1]}},
        "early_terminate": {"type": "hyperband", "min_iter": 2},
    }
    assert cfg.method == "grid" and cfg.project == "p" and cfg.early_terminate["min_iter"] == 2


def test_parses_a_context_written_by_the_existing_plugin():
    # What flyteplugins-wandb 2.12.1 writes: download_logs always present, extras in kwargs.
    context = {
        "wandb_sweep_method": "random",
        "wandb_sweep_parameters": '{"x": {"values": [1, 2]}}',
        "wandb_sweep_download_logs": "false",
        "wandb_sweep_kwargs": '{"early_terminate": {"type": "hyperband", "min_iter": 1}}',
        "wandb_project": "not-a-sweep-key",
        "_wandb_sweep_id": "abc",
    }
    values = parse_context(context)
    assert values == {
        "method": "random",
        "parameters": {"x": {"values": [1, 2]}},
        "download_logs": False,
        "kwargs": {"early_terminate": {"type": "hyperband", "min_iter": 1}},
    }


def test_unknown_sweep_keys_fold_into_kwargs():
    values = parse_context({"wandb_sweep_method": "grid", "wandb_sweep_run_cap": "5"})
    assert values["kwargs"] == {"run_cap": 5}
    assert sweep_config_from_values(values) == {"method": "grid", "run_cap": 5}


def test_decorator_values_override_context_and_merge_kwargs():
    merged = merge_values({"method": "bayes", "kwargs": {"b": 2}}, {"method": "grid", "kwargs": {"a": 1}})
    assert merged == {"method": "bayes", "kwargs": {"a": 1, "b": 2}}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "hyperopt"}, r"method='hyperopt' is not valid; allowed values: 'grid', 'random', 'bayes'"),
        ({"metric": {"goal": "minimize"}}, r"metric must be a dict with a 'name'"),
        ({"metric": {"name": "loss", "goal": "lower"}}, r"metric\['goal'\]='lower' is not valid"),
        ({"parameters": {}}, r"parameters must be a non-empty dict"),
        ({"parameters": {"lr": 0.1}}, r"parameters\['lr'\] must be a dict"),
        ({"prior_runs": "r1"}, r"prior_runs must be a list of run ids"),
        ({"download_logs": "yes"}, r"download_logs must be True or False"),
        ({"early_terminate": {"type": "median"}}, r"early_terminate\['type'\]='median' is not valid"),
        ({"parameters": {"lr": {"values": [object()]}}}, r"parameters must be JSON-serializable"),
        ({"api_key": "x"}, r"secret-like argument 'api_key'"),
    ],
)
def test_bad_input_fails_early_naming_the_argument(kwargs, message):
    with pytest.raises(WandbConfigError, match=message):
        wandb_sweep_config(**kwargs)


@pytest.mark.parametrize(
    ("explicit", "context", "env", "creds", "expected"),
    [
        (None, None, {}, False, "offline"),
        (None, None, {"WANDB_API_KEY": "k" * 40}, False, "online"),
        (None, None, {}, True, "online"),
        ("offline", None, {"WANDB_API_KEY": "k" * 40}, False, "offline"),
        (None, "offline", {"WANDB_API_KEY": "k" * 40}, False, "offline"),
        (None, None, {"WANDB_MODE": "offline", "WANDB_API_KEY": "k" * 40}, False, "offline"),
        (None, None, {"WANDB_MODE": "disabled"}, False, "disabled"),
        ("online", "offline", {}, False, "online"),
    ],
)
def test_mode_resolution(explicit, context, env, creds, expected):
    assert resolve_mode(explicit, context, env, creds) == expected


def test_offline_sweep_id_is_stable_and_wandb_shaped():
    a = offline_sweep_id("p/run-a0")
    assert a == offline_sweep_id("p/run-a0")
    assert a != offline_sweep_id("p/run-a1")
    assert len(a) == 8 and a.isalnum() and a.islower()
