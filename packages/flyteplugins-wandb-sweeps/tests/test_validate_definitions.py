"""Sweep definitions W&B would refuse are refused by wandb_sweep_config / @wandb_sweep, by W&B's rules,
before any sweep task or agent starts; run_sweep_agents' timing arguments too."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import flyte
import pytest

from flyteplugins.wandb_core import WandbConfigError, wandb_init
from flyteplugins.wandb_sweeps import run_sweep_agents, wandb_sweep, wandb_sweep_config
from flyteplugins.wandb_sweeps._config import distributions
from flyteplugins.wandb_sweeps._engine import validate_sweep_config

env = flyte.TaskEnvironment(name="sweep-validate")
GRID = {"x": {"values": [1, 2]}}
RANGE = {"x": {"min": 0.0, "max": 1.0}}
KEY = "0123456789abcdef" * 2 + "fakekey0"

BAD: list[tuple[str, dict[str, Any], str]] = [
    ("bayes without metric", {"method": "bayes", "parameters": RANGE}, r'Bayesian search requires "metric"'),
    ("min > max", {"method": "random", "parameters": {"x": {"min": 2.0, "max": 1.0}}},
     r"parameters\['x'\]=.*min 2.0 is not less than max 1.0"),
    ("empty values", {"method": "random", "parameters": {"x": {"values": []}}},
     r"parameters\['x'\]\['values'\] must be a non-empty list"),
    ("unknown distribution",
     {"method": "random", "parameters": {"x": {"distribution": "gauss", "min": 0, "max": 1}}},
     r"parameters\['x'\]\['distribution'\]='gauss' is not valid; allowed values: .*'log_uniform_values'"),
    ("empty parameter spec", {"method": "random", "parameters": {"x": {}}}, r"parameters\['x'\] is \{\}"),
    ("negative run_cap", {"method": "random", "parameters": GRID, "run_cap": -1},
     r"run_cap: -1 is less than or equal to the minimum of 0"),
    ("grid over a continuous parameter", {"method": "grid", "parameters": RANGE},
     r"Parameter x is a disallowed type with grid search"),
    ("grid over a nested continuous parameter",
     {"method": "grid", "parameters": {"opt": {"parameters": {"lr": {"min": 0.1, "max": 1.0}}}}},
     r"Parameter opt.lr is a disallowed type"),
    ("unknown key", {"method": "random", "parameters": GRID, "metrc": {"name": "x"}},
     r"Additional properties are not allowed \('metrc' was unexpected\)"),
    ("string values", {"method": "random", "parameters": {"x": {"values": "abc"}}},
     r"parameters\['x'\]\['values'\] must be a non-empty list"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "kwargs", "message"), BAD, ids=[c for c, _, _ in BAD])
def test_wandb_sweep_config_refuses(case: str, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(WandbConfigError, match=message) as info:
        wandb_sweep_config(**kwargs)
    assert str(info.value).startswith("wandb_sweep_config")  # our message around the engine's text


@pytest.mark.parametrize(("case", "kwargs", "message"), BAD, ids=[c for c, _, _ in BAD])
def test_wandb_sweep_refuses_at_decoration(case: str, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(WandbConfigError, match=message):

        @wandb_sweep(**kwargs)
        @env.task
        async def sweep() -> None: ...


def test_missing_method_is_refused_once_the_parts_meet() -> None:
    # A part without a method is fine (the decorator may give it) ...
    wandb_sweep_config(parameters=GRID)
    # ... the merged definition is checked before the sweep is created or any agent starts.
    with pytest.raises(WandbConfigError, match=r"has no method; allowed values: 'grid', 'random', 'bayes'"):
        validate_sweep_config({"parameters": GRID})
    with pytest.raises(WandbConfigError, match=r"the sweep engine cannot run this definition"):
        validate_sweep_config({"method": "grid", "parameters": RANGE})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"method": "grid",
         "parameters": {"x": {"values": [1, 2]}, "n": {"distribution": "int_uniform", "min": 0, "max": 3}}},
        {"method": "bayes", "metric": {"name": "loss", "goal": "minimize"}, "parameters": RANGE},
        {"method": "random", "parameters": {"opt": {"parameters": {"lr": {"min": 0.1, "max": 1.0}}}}},
        {"method": "random",
         "parameters": {"lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 0.1}}},
        {"method": "random", "parameters": {"x": {"distribution": "uniform", "min": 0, "max": 1}}},
        {"method": "random", "parameters": {"pad_token": {"value": "<pad>"}}, "run_cap": 5},
        {"method": "random", "metric": {"name": "loss"}, "parameters": GRID,
         "early_terminate": {"type": "hyperband", "min_iter": 3}},
        {"parameters": RANGE},  # a part: method from @wandb_sweep
        {"metric": {"name": "loss", "goal": "maximize"}},
    ],
)  # fmt: skip
def test_valid_definitions_pass(kwargs: dict[str, Any]) -> None:
    wandb_sweep_config(**kwargs)


def test_distributions_come_from_the_shipped_schema() -> None:
    assert {"uniform", "log_uniform_values", "int_uniform", "categorical", "q_uniform"} <= set(distributions())


def test_the_key_is_refused_in_a_sweep_definition(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", KEY)
    for kwargs in (
        {"method": "grid", "parameters": {"x": {"values": [KEY]}}},
        {"method": "grid", "parameters": GRID, "description": f"uses {KEY}"},
        {"name": KEY},
    ):
        with pytest.raises(WandbConfigError, match="contains the W&B API key") as info:
            wandb_sweep_config(**kwargs)
        assert KEY not in str(info.value)


@wandb_init
def objective() -> None: ...


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"poll_interval": 0}, r"poll_interval must be a positive number of seconds, got 0"),
        ({"poll_interval": -1.5}, r"poll_interval must be a positive number"),
        ({"idle_timeout": 0}, r"idle_timeout must be a positive number of seconds, got 0"),
        ({"idle_timeout": float("nan")}, r"idle_timeout must be a positive number"),
        ({"idle_timeout": "600"}, r"idle_timeout must be a positive number"),
    ],
)
def test_run_sweep_agents_timing_must_be_positive(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(WandbConfigError, match=message):
        run_sweep_agents(objective, count=1, **kwargs)


def test_importing_the_plugin_does_not_import_the_sweep_engine() -> None:
    code = textwrap.dedent(
        """
        import sys
        import flyteplugins.wandb_core
        from flyteplugins.wandb_core import wandb_config, wandb_init
        import flyteplugins.wandb_sweeps
        assert "sweeps" not in sys.modules, "import flyteplugins.wandb imported sweeps"
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
