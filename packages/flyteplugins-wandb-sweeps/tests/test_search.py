"""Every W&B parameter form through the built-in grid/random search and through Optuna; engine choice."""

from __future__ import annotations

import math
import sys

import optuna
import pytest

from flyteplugins.wandb_core import WandbConfigError
from flyteplugins.wandb_sweeps import OptunaEngine
from flyteplugins.wandb_sweeps._engine import OfflineController, check_engine, validate_sweep_config

# One of each distribution W&B documents, with the range its draws must fall in.
EVERY_FORM = {
    "const": {"value": "adam"},
    "cat": {"values": [1, [2, 3], {"k": 4}]},
    "weighted": {"distribution": "categorical_w_probabilities", "values": ["a", "b"], "probabilities": [0.9, 0.1]},
    "i": {"min": 2, "max": 5},
    "u": {"min": 0.5, "max": 1.5},
    "qu": {"distribution": "q_uniform", "min": 0, "max": 10, "q": 2},
    "lu": {"distribution": "log_uniform", "min": -3.0, "max": 0.0},
    "luv": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
    "qlu": {"distribution": "q_log_uniform", "min": 0.0, "max": 4.0, "q": 5},
    "qluv": {"distribution": "q_log_uniform_values", "min": 1, "max": 1000, "q": 10},
    "ilu": {"distribution": "inv_log_uniform", "min": 0.0, "max": 3.0},
    "iluv": {"distribution": "inv_log_uniform_values", "min": 0.01, "max": 1.0},
    "n": {"distribution": "normal", "mu": 10.0, "sigma": 0.5},
    "qn": {"distribution": "q_normal", "mu": 100, "sigma": 10, "q": 5},
    "ln": {"distribution": "log_normal", "mu": 0.0, "sigma": 0.5},
    "qln": {"distribution": "q_log_normal", "mu": 3.0, "sigma": 0.2, "q": 1},
    "beta": {"distribution": "beta", "a": 2, "b": 5},
    "qbeta": {"distribution": "q_beta", "a": 2, "b": 2, "q": 0.25},
    "opt": {"parameters": {"lr": {"min": 0.001, "max": 0.01}, "momentum": {"values": [0.8, 0.9]}}},
}


def _check_draw(p: dict) -> None:
    assert p["const"] == "adam"
    assert p["cat"] in (1, [2, 3], {"k": 4}) and p["weighted"] in ("a", "b")
    assert isinstance(p["i"], int) and 2 <= p["i"] <= 5
    assert 0.5 <= p["u"] <= 1.5
    assert p["qu"] in range(0, 11, 2)
    assert math.exp(-3) - 1e-12 <= p["lu"] <= 1.0
    assert 1e-4 <= p["luv"] <= 1e-1
    assert p["qlu"] % 5 == 0 and 0 <= p["qlu"] <= 55
    assert p["qluv"] % 10 == 0 and 0 <= p["qluv"] <= 1000
    assert math.exp(-3) - 1e-12 <= p["ilu"] <= 1.0
    assert 0.01 <= p["iluv"] <= 1.0
    assert 7 < p["n"] < 13 and p["qn"] % 5 == 0 and p["ln"] > 0 and p["qln"] >= 0
    assert 0 <= p["beta"] <= 1 and p["qbeta"] in (0, 0.25, 0.5, 0.75, 1.0)
    assert set(p["opt"]) == {"lr", "momentum"} and 0.001 <= p["opt"]["lr"] <= 0.01  # nested, as on W&B


def _config(method: str, parameters: dict, **extra) -> dict:
    return validate_sweep_config(
        {"method": method, "metric": {"name": "loss", "goal": "minimize"}, "parameters": parameters, **extra}
    )


@pytest.mark.parametrize("engine", [None, "optuna"])
def test_every_parameter_form_draws_in_range(engine):
    method = "random" if engine is None else "bayes"
    # Past TPE's 10 random start-up trials, so its own suggestions are checked too.
    c = OfflineController(_config(method, EVERY_FORM), "sw", count=16, engine=engine)
    for _ in range(16):
        a = c.next_trial()
        _check_draw(a.params)
        c.report(a.run_id, "finished", {"loss": a.params["u"]})


def test_grid_and_random_import_no_engine():
    import subprocess

    code = (
        "import sys\n"
        "from flyteplugins.wandb_sweeps._engine import OfflineController, validate_sweep_config\n"
        f"P = {EVERY_FORM!r}\n"
        "c = OfflineController(validate_sweep_config({'method': 'random', 'parameters': P}), 's', count=5)\n"
        "assert len(c.suggest(5)) == 5\n"
        "g = validate_sweep_config({'method': 'grid', 'parameters': {'a': {'values': [1, 2]}, "
        "'q': {'distribution': 'q_uniform', 'min': 0, 'max': 1, 'q': 0.5}}})\n"
        "assert len(OfflineController(g, 's', count=99).suggest(99)) == 4\n"
        "assert not {'optuna', 'numpy', 'sweeps'} & set(sys.modules), sorted(sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def test_grid_enumerates_int_and_q_ranges_and_nested_values():
    cfg = _config(
        "grid",
        {
            "n": {"distribution": "int_uniform", "min": 1, "max": 3},
            "g": {"parameters": {"q": {"distribution": "q_uniform", "min": 0.0, "max": 1.0, "q": 0.5}}},
        },
    )
    got = OfflineController(cfg, "sw", count=99).suggest(99)
    # W&B's grid: int_uniform includes max, q_uniform steps from min and stops before max.
    assert sorted((a.params["n"], a.params["g"]["q"]) for a in got) == [(n, q) for n in (1, 2, 3) for q in (0.0, 0.5)]


def test_resumed_bayes_learns_from_prior_trials_and_skips_foreign_ones():
    cfg = _config("bayes", {"x": {"min": 0.0, "max": 1.0}, "c": {"values": ["a", "b"]}})
    prior = [
        ({"x": 0.2, "c": "a"}, "finished", {"loss": 1.0}),
        ({"x": 0.3, "c": "b"}, "finished", {"loss": 0.5}),
        ({"x": 7.0, "c": "a"}, "finished", {"loss": 0.1}),  # an earlier definition's range
        ({"x": 0.4, "c": "a"}, "failed", {}),
    ]
    c = OfflineController(cfg, "sw", count=1, prior=prior, engine=OptunaEngine(seed=0))
    study = c._search.study
    assert sorted(t.params["x"] for t in study.trials) == [0.2, 0.3]
    assert study.best_trial.params["c"] == 1  # the index of "b"


def test_hyperband_stops_a_bad_bayes_trial():
    cfg = _config(
        "bayes", {"x": {"min": 0.0, "max": 1.0}}, early_terminate={"type": "hyperband", "min_iter": 1, "eta": 2}
    )
    c = OfflineController(cfg, "sw", count=3)
    for _ in range(2):
        good = c.next_trial()
        assert not c.observe(good.run_id, {"loss": 0.1})
        c.report(good.run_id, "finished", {"loss": 0.1})
    bad = c.next_trial()
    assert c.observe(bad.run_id, {"loss": 9.0})
    c.report(bad.run_id, "stopped", {"loss": 9.0})


def test_a_multi_objective_sampler_drives_trials():
    engine = OptunaEngine(
        sampler=optuna.samplers.NSGAIISampler(seed=0), metrics={"loss": "minimize", "acc": "maximize"}
    )
    c = OfflineController(_config("random", {"x": {"min": 0.0, "max": 1.0}}), "sw", count=6, engine=engine)
    for _ in range(6):
        a = c.next_trial()
        c.report(a.run_id, "finished", {"loss": a.params["x"], "acc": a.params["x"] ** 2})
    assert len(c._search.study.best_trials) >= 1 and len(c._search.study.directions) == 2


def test_a_bare_sampler_is_an_engine():
    c = OfflineController(
        _config("random", {"x": {"min": 0.0, "max": 1.0}}), "sw", count=2, engine=optuna.samplers.RandomSampler(seed=3)
    )
    assert len(c.suggest(2)) == 2


@pytest.mark.parametrize(
    ("engine", "message"),
    [
        ("hyperopt", r"engine='hyperopt' is not valid; allowed values: None .*'optuna', 'wandb'"),
        (lambda: OptunaEngine(metrics={"loss": "lowest"}), r"metrics\['loss'\]='lowest'; allowed values"),
    ],
)
def test_bad_engines_are_refused_by_name(engine, message):
    with pytest.raises(WandbConfigError, match=message):
        # An OptunaEngine refuses its own bad arguments when it is built (here, inside the `raises`).
        engine = engine() if callable(engine) else engine
        OfflineController(_config("random", {"x": {"min": 0.0, "max": 1.0}}), "sw", count=1, engine=engine)


def test_the_wandb_engine_missing_names_its_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sweeps", None)  # as if not installed
    with pytest.raises(WandbConfigError, match=r"pip install 'flyteplugins-wandb\[sweeps-wandb-engine\]'"):
        check_engine("wandb")


def test_the_wandb_engine_still_drives_offline_sweeps_and_its_grid_is_ours():
    if not callable(getattr(pytest.importorskip("sweeps"), "next_runs", None)):
        pytest.skip("W&B's sweep engine is not installed (a folder named sweeps is not it)")
    parameters = {
        "a": {"values": [1, "x"]},
        "n": {"distribution": "int_uniform", "min": 1, "max": 3},
        "q": {"distribution": "q_uniform", "min": 0.1, "max": 1.0, "q": 0.25},
    }
    cfg = _config("grid", parameters)

    def visited(engine):
        got = OfflineController(cfg, "sw", count=99, engine=engine).suggest(99)
        return sorted((str(a.params["a"]), a.params["n"], round(a.params["q"], 9)) for a in got)

    assert visited("wandb") == visited(None) and len(visited(None)) == 2 * 3 * 4


def test_bayes_with_three_agents_in_flight_still_closes_in():
    # Three trials always running: each suggestion is made while two others are pending. The sweep
    # id seeds the search; with "c" a lie of the best value for pending trials kept every agent
    # around x=-3, and a lie of the worst stalled near x=1.8.
    c = OfflineController(_config("bayes", {"x": {"min": -5.0, "max": 5.0}}), "c", count=15)
    running = [c.next_trial() for _ in range(3)]
    losses = []
    while running:
        a = running.pop(0)
        losses.append((a.params["x"] - 1.3) ** 2)
        c.report(a.run_id, "finished", {"loss": losses[-1]})
        if (nxt := c.next_trial()) is not None:
            running.append(nxt)
    assert len(losses) == 15 and min(losses) < 0.05
