"""`OptunaEngine(...)` refuses what no sweep can use when it is built, naming the argument.

Found by QA: a non-sampler `sampler=` failed every agent later with an AttributeError from Optuna's
internals, and a non-pruner `pruner=` failed every trial while the sweep reported success.
"""

from __future__ import annotations

from typing import Any

import pytest

from flyteplugins.wandb import WandbConfigError

pytestmark = pytest.mark.integration

optuna = pytest.importorskip("optuna")
sweeps = pytest.importorskip("flyteplugins.wandb_sweeps")


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"sampler": 5}, r"OptunaEngine: sampler must be an optuna\.samplers\.BaseSampler instance, got int 5"),
        ({"sampler": optuna.samplers.TPESampler}, r"sampler must be .* got the class TPESampler: write TPESampler\(\)"),
        ({"pruner": "median"}, r"OptunaEngine: pruner must be an optuna\.pruners\.BasePruner instance, got str"),
        ({"metrics": ["loss"]}, r"OptunaEngine: metrics must be a non-empty mapping of name -> 'minimize'"),
        ({"metrics": {"loss": "min"}}, r"OptunaEngine: metrics\['loss'\]='min'; allowed values: 'minimize'"),
        ({"seed": "0"}, r"OptunaEngine: seed must be an int, got str '0'"),
    ],
)
def test_a_bad_engine_argument_is_refused_when_the_engine_is_built(arguments: dict[str, Any], named: str) -> None:
    with pytest.raises(WandbConfigError, match=named):
        sweeps.OptunaEngine(**arguments)


def test_samplers_and_pruners_of_optuna_are_accepted() -> None:
    engine = sweeps.OptunaEngine(
        sampler=optuna.samplers.TPESampler(seed=0),
        pruner=optuna.pruners.MedianPruner(),
        metrics={"loss": "minimize"},
        seed=1,
    )
    assert isinstance(engine.sampler, optuna.samplers.TPESampler)
