"""The offline controller and its default engines (pure logic, no W&B runs)."""

from __future__ import annotations

import threading

import pytest

from flyteplugins.wandb_core import WandbConfigError
from flyteplugins.wandb_sweeps import OptunaEngine
from flyteplugins.wandb_sweeps._engine import OfflineController, unwrap_params, validate_sweep_config

GRID = {"method": "grid", "parameters": {"a": {"values": [1, 2]}, "b": {"values": ["x", "y"]}}}


def test_grid_hands_out_each_combination_once_then_stops():
    c = OfflineController(validate_sweep_config(GRID), "sw", count=10)
    got = []
    while (a := c.next_trial()) is not None:
        got.append(a)
    assert sorted((a.params["a"], a.params["b"]) for a in got) == [(1, "x"), (1, "y"), (2, "x"), (2, "y")]
    assert [a.run_id for a in got] == ["sw-000", "sw-001", "sw-002", "sw-003"]


def test_budget_caps_the_number_of_trials_across_threads():
    c = OfflineController(
        validate_sweep_config({"method": "random", "parameters": {"x": {"min": 0.0, "max": 1.0}}}), "sw", count=7
    )
    got: list = []
    lock = threading.Lock()

    def agent():
        while (a := c.next_trial()) is not None:
            with lock:
                got.append(a.run_id)

    threads = [threading.Thread(target=agent) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == [f"sw-{i:03d}" for i in range(7)]


def test_grid_skips_combinations_already_done_in_prior_runs():
    prior = [({"a": 1, "b": "x"}, "finished", {}), ({"a": 2, "b": "y"}, "failed", {})]
    c = OfflineController(validate_sweep_config(GRID), "sw", count=10, prior=prior, first_index=5)
    got = [c.next_trial() for _ in range(3)]
    assert got[2] is None
    assert sorted((a.params["a"], a.params["b"]) for a in got[:2]) == [(1, "y"), (2, "x")]
    assert got[0].run_id == "sw-005"


def test_bayes_uses_reported_metrics():
    cfg = validate_sweep_config(
        {
            "method": "bayes",
            "metric": {"name": "loss", "goal": "minimize"},
            "parameters": {"x": {"min": -5.0, "max": 5.0}},
        }
    )
    c = OfflineController(cfg, "sw", count=30, engine=OptunaEngine(seed=1))
    xs = []
    for _ in range(30):
        a = c.next_trial()
        xs.append(a.params["x"])
        c.report(a.run_id, "finished", {"loss": (a.params["x"] - 1.3) ** 2})
    # The first trials explore at random; once outcomes are told, suggestions close in on x=1.3.
    spread = [abs(x - 1.3) for x in xs]
    assert min(spread) < 0.2
    assert sum(spread[-10:]) < sum(spread[:10]) / 3


def test_hyperband_observe_stops_a_worse_running_trial():
    cfg = validate_sweep_config(
        {
            "method": "grid",
            "metric": {"name": "loss", "goal": "minimize"},
            "parameters": {"x": {"values": [1, 2]}},
            "early_terminate": {"type": "hyperband", "min_iter": 2},
        }
    )
    c = OfflineController(cfg, "sw", count=2)
    good = c.next_trial()
    for _ in range(3):
        assert not c.observe(good.run_id, {"loss": 1.0})
    c.report(good.run_id, "finished", {"loss": 1.0})
    bad = c.next_trial()
    assert not c.observe(bad.run_id, {"loss": 5.0})  # before the first band
    assert c.observe(bad.run_id, {"loss": 5.0})  # at band 2: worse than the finished trial


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"method": "bayes", "parameters": {"x": {"min": 0.0, "max": 1.0}}}, "needs a metric"),
        (
            {
                "method": "grid",
                "parameters": {"x": {"min": 0.0, "max": 1.0}},
                "early_terminate": {"type": "hyperband", "min_iter": 2},
            },
            "early_terminate needs a metric",
        ),
        ({"method": "grid", "parameters": {"x": {"bogus": 1}}}, r"parameters\['x'\]=.*is refused"),
    ],
)
def test_invalid_configs_are_rejected(config, message):
    with pytest.raises(WandbConfigError, match=message):
        validate_sweep_config(config)


def test_unwrap_params():
    assert unwrap_params({"lr": {"value": 0.1}, "n": {"value": {"a": 1}}}) == {"lr": 0.1, "n": {"a": 1}}


def _bayes_run(monkeypatch: pytest.MonkeyPatch, trials: int) -> tuple[int, list[float]]:
    """Run ``trials`` of a 2-D bayes search; return how many optimiser runs fitted the kernel."""
    import scipy.optimize

    runs = 0
    real = scipy.optimize.minimize

    def counting(*args, **kwargs):
        nonlocal runs
        runs += 1
        return real(*args, **kwargs)

    # scikit-learn's own optimiser and the sampler's both look the function up on the module.
    monkeypatch.setattr(scipy.optimize, "minimize", counting)
    cfg = validate_sweep_config(
        {
            "method": "bayes",
            "metric": {"name": "loss", "goal": "minimize"},
            "parameters": {"x": {"min": -5.0, "max": 5.0}, "y": {"min": -5.0, "max": 5.0}},
        }
    )
    c = OfflineController(cfg, "sw", count=trials, engine=OptunaEngine(seed=3))
    losses = []
    for _ in range(trials):
        a = c.next_trial()
        losses.append((a.params["x"] - 1.3) ** 2 + (a.params["y"] + 0.7) ** 2)
        c.report(a.run_id, "finished", {"loss": losses[-1]})
    return runs, losses


def test_bayes_fits_the_kernel_again_only_as_the_trials_grow(monkeypatch: pytest.MonkeyPatch):
    # Suggestion time: the hyper-parameter fit is most of it, so it runs at every trial only while
    # they are few (5 to 10), then once the set has grown by a tenth; the defaults join now and then.
    fits, losses = _bayes_run(monkeypatch, 45)
    # 40 GP suggestions (the first 5 are TPE's): 5 fits up to 10 trials, then about one per tenth of
    # growth, a few with a second start from the defaults.
    assert 10 <= fits <= 28, fits  # at every suggestion: 40
    assert min(losses) < 0.05  # and the search still closes in on (1.3, -0.7)


def test_bayes_leaves_the_blas_thread_pools_as_it_found_them():
    from threadpoolctl import threadpool_info

    before = [(p["internal_api"], p["num_threads"]) for p in threadpool_info()]
    cfg = validate_sweep_config(
        {"method": "bayes", "metric": {"name": "loss"}, "parameters": {"x": {"min": 0.0, "max": 1.0}}}
    )
    c = OfflineController(cfg, "sw", count=8, engine=OptunaEngine(seed=0))
    for _ in range(8):
        a = c.next_trial()
        c.report(a.run_id, "finished", {"loss": a.params["x"]})
    assert [(p["internal_api"], p["num_threads"]) for p in threadpool_info()] == before


def test_next_params_suggests_from_the_history_alone():
    from flyteplugins.wandb_sweeps._engine import next_params

    grid = {"method": "grid", "parameters": {"a": {"values": [1, 2]}, "g": {"parameters": {"b": {"value": 3}}}}}
    assert next_params(grid, [({"a": 1, "g": {"b": 3}}, "running", {})]) == {"a": 2, "g": {"b": 3}}
    assert (
        next_params(grid, [({"a": 1, "g": {"b": 3}}, "failed", {}), ({"a": 2, "g": {"b": 3}}, "pending", {})]) is None
    )
    bayes = {"method": "bayes", "metric": {"name": "loss"}, "parameters": {"x": {"min": 0.0, "max": 1.0}}}
    history = [({"x": x / 10}, "finished", {"loss": abs(x / 10 - 0.3)}) for x in range(0, 11, 2)]
    assert 0.0 <= next_params(bayes, history)["x"] <= 1.0
    with pytest.raises(WandbConfigError, match="method"):
        next_params({"method": "nope", "parameters": {"x": {"value": 1}}}, [])
