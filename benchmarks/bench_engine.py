"""Offline search quality and suggestion latency: the default bayes (a GP) vs W&B's engine vs random.

    uv run python benchmarks/bench_engine.py [--trials 30] [--seeds 5] [--latency-at 10 50 100]

Three standard test functions, minimised with a fixed budget of ``--trials`` sequential trials
(one agent), ``--seeds`` seeds each:

- quadratic 1-D: ``(x - 1.3)**2`` on [-5, 5] (optimum 0);
- Branin 2-D on [-5, 10] x [0, 15] (optimum 0.397887);
- Hartmann 6-D on [0, 1]^6 (optimum -3.32237).

Engines, each driven through the controller's search interface exactly as a sweep drives it:
``bayes`` (this package's default for ``method: bayes``: the Gaussian process), ``wandb-bayes`` (W&B's own
``sweeps`` engine, engine="wandb"; skipped with a note when not installed) and ``random`` (the
built-in random search). Prints, per function, the median best-found value over the seeds with its
[min, max], then the time one suggestion takes once 10, 50 and 100 (``--latency-at``) trials of
Hartmann 6-D have finished, for those engines and TPE (``engine=optuna.samplers.TPESampler()``): the
median, mean and slowest of 20 suggestions. Figures are reported, never asserted (docs/sweeps.md has
a table of them).
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stats import spread

from flyteplugins.wandb_sweeps import OptunaEngine
from flyteplugins.wandb_sweeps._engine import BuiltinSearch, OptunaSearch, validate_sweep_config


def quadratic(p: dict[str, float]) -> float:
    return (p["x"] - 1.3) ** 2


def branin(p: dict[str, float]) -> float:
    x1, x2 = p["x1"], p["x2"]
    b, c = 5.1 / (4 * math.pi**2), 5 / math.pi
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10


_H_A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
_H_P = [
    [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
    [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
    [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
    [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
]
_H_ALPHA = [1.0, 1.2, 3.0, 3.2]


def hartmann6(p: dict[str, float]) -> float:
    x = [p[f"x{i}"] for i in range(6)]
    return -sum(
        alpha * math.exp(-sum(a * (xi - pi) ** 2 for a, xi, pi in zip(row, x, prow, strict=True)))
        for alpha, row, prow in zip(_H_ALPHA, _H_A, _H_P, strict=True)
    )


FUNCTIONS: dict[str, tuple[Callable[[dict[str, float]], float], dict[str, Any], float]] = {
    "quadratic 1-D": (quadratic, {"x": {"min": -5.0, "max": 5.0}}, 0.0),
    "Branin 2-D": (branin, {"x1": {"min": -5.0, "max": 10.0}, "x2": {"min": 0.0, "max": 15.0}}, 0.397887),
    "Hartmann 6-D": (hartmann6, {f"x{i}": {"min": 0.0, "max": 1.0} for i in range(6)}, -3.32237),
}


def _config(parameters: dict[str, Any], method: str) -> dict[str, Any]:
    return validate_sweep_config(
        {"method": method, "metric": {"name": "loss", "goal": "minimize"}, "parameters": parameters}
    )


def _wandb_engine() -> Any:
    try:
        from flyteplugins.wandb_sweeps._engine import WandbSearch, sweeps_module

        sweeps_module()
    except Exception:
        return None
    return WandbSearch


def make(engine: str, parameters: dict[str, Any], seed: int) -> Any:
    if engine == "bayes":
        return OptunaSearch(_config(parameters, "bayes"), OptunaEngine(seed=seed))
    if engine == "tpe":
        import optuna

        return OptunaSearch(_config(parameters, "bayes"), OptunaEngine(optuna.samplers.TPESampler(seed=seed)))
    if engine == "random":
        return BuiltinSearch(_config(parameters, "random"), seed=seed)
    import numpy as np

    np.random.seed(seed)  # W&B's engine draws from numpy's global generator
    return _wandb_engine()(_config(parameters, "bayes"))


def best_found(
    engine: str, fn: Callable[[dict[str, float]], float], parameters: dict[str, Any], seed: int, trials: int
) -> float:
    search = make(engine, parameters, seed)
    best = math.inf
    for _ in range(trials):
        handle, params = search.ask()
        loss = fn(params)
        search.tell(handle, "finished", {"loss": loss})
        best = min(best, loss)
    return best


def latency(engine: str, at: list[int], repeat: int = 20) -> dict[int, tuple[float, float, float]]:
    """Seconds per suggestion (``ask``) once each of ``at`` trials of Hartmann 6-D have finished.

    One search runs on; at each count in ``at`` the next ``repeat`` suggestions are timed (their
    trials count towards the next point). Returns ``{count: (median, mean, max)}``: the slowest
    shows the occasional costlier suggestion (a hyper-parameter fit), the mean what suggestions cost
    on average.
    """
    fn, parameters, _ = FUNCTIONS["Hartmann 6-D"]
    search = make(engine, parameters, 0)
    finished, figures = 0, {}
    for count in sorted(at):
        while finished < count:
            handle, params = search.ask()
            search.tell(handle, "finished", {"loss": fn(params)})
            finished += 1
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            handle, params = search.ask()
            times.append(time.perf_counter() - start)
            search.tell(handle, "finished", {"loss": fn(params)})
        finished += repeat
        figures[count] = (statistics.median(times), statistics.mean(times), max(times))
    return figures


def _ms(seconds: float) -> str:
    if seconds < 0.001:
        return f"{seconds * 1e6:.0f} µs"
    return f"{seconds * 1000:.1f} ms" if seconds < 0.01 else f"{seconds * 1000:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--latency-at", type=int, nargs="+", default=[10, 50, 100])
    parser.add_argument("--latency-only", action="store_true", help="skip the quality table")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # this script's own process: one line per trial is noise
    engines = ["bayes", "wandb-bayes", "random"]
    if _wandb_engine() is None:
        print("wandb-bayes: skipped (W&B's engine is not installed: flyteplugins-wandb[sweeps-wandb-engine])")
        engines.remove("wandb-bayes")
    if not args.latency_only:
        print(f"median best-found [min, max] over {args.seeds} seeds, {args.trials} trials each (lower is better)")
        print("| function | optimum | " + " | ".join(engines) + " |")
        print("|---|---|" + "---|" * len(engines))
        for name, (fn, parameters, optimum) in FUNCTIONS.items():
            cells = []
            for engine in engines:
                found = [best_found(engine, fn, parameters, seed, args.trials) for seed in range(args.seeds)]
                cells.append(spread(found, "{:.4f}"))
            print(f"| {name} | {optimum:g} | " + " | ".join(cells) + " |")
    at = sorted(args.latency_at)
    print("\none suggestion, Hartmann 6-D: median [mean, slowest] of 20, by trials finished")
    print("| engine | " + " | ".join(str(n) for n in at) + " |")
    print("|---|" + "---|" * len(at))
    for engine in [engines[0], "tpe", *engines[1:]]:
        figures = latency(engine, at)
        cells = [f"{_ms(med)} [{_ms(mean)}, {_ms(worst)}]" for med, mean, worst in figures.values()]
        print(f"| {engine} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    random.seed(0)
    main()
