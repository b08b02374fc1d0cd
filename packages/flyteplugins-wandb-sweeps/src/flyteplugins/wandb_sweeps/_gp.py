"""``method: bayes``: an Optuna sampler on scikit-learn's GP regressor (why, and its speed: docs/sweeps.md)."""

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution
from optuna.search_space import IntersectionSearchSpace
from optuna.trial import FrozenTrial, TrialState

Numeric = FloatDistribution | IntDistribution

# Refit at this growth of the training set; also from the defaults (cold) at the second: no early, poor optimum.
_REFIT_GROWTH = 1.1
_COLD_FIT_GROWTH = 1.5


def _bounds(d: Numeric) -> tuple[float, float]:
    return (math.log(d.low), math.log(d.high)) if d.log else (float(d.low), float(d.high))


def _to_unit(d: Numeric, value: float) -> float:
    lo, hi = _bounds(d)
    return ((math.log(value) if d.log else value) - lo) / (hi - lo)


def _from_unit(d: Numeric, u: float) -> float:
    lo, hi = _bounds(d)
    x = lo + min(max(u, 0.0), 1.0) * (hi - lo)
    x = math.exp(x) if d.log else x
    if d.step:  # an int (step 1 by default) or a stepped float: back onto the grid, inside the range
        x = round((x - d.low) / d.step) * d.step + d.low
    x = min(max(x, d.low), d.high)
    return int(x) if isinstance(d, IntDistribution) else x


def _optimizer(starts: list[Any]) -> Callable[..., tuple[Any, float]]:
    """sklearn's ``optimizer`` hook: L-BFGS-B from each of ``starts``, the likeliest result wins."""

    def optimize(objective: Callable[..., Any], initial_theta: Any, bounds: Any) -> tuple[Any, float]:
        from scipy.optimize import minimize

        found = [
            minimize(objective, np.clip(s, bounds[:, 0], bounds[:, 1]), method="L-BFGS-B", jac=True, bounds=bounds)
            for s in {tuple(s): s for s in starts}.values()  # the first fit has one start
        ]
        best = min(found, key=lambda f: f.fun)
        return best.x, float(best.fun)

    return optimize


class GaussianProcessSampler(optuna.samplers.BaseSampler):
    """A GP's expected improvement over the numeric parameters; TPE for the others and for the first trials."""

    def __init__(self, seed: int | None = None, n_startup_trials: int = 5, candidates: int = 1000) -> None:
        self._rng = np.random.default_rng(seed)
        self._n_startup = n_startup_trials
        self._candidates = candidates
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TPE's experimental flags
            self._independent = optuna.samplers.TPESampler(seed=seed)
        self._space = IntersectionSearchSpace(include_pruned=True)
        # Per search space: last fitted theta, training-set size it was fitted on, that of the last cold fit.
        self._fitted: dict[tuple[str, ...], tuple[Any, int, int]] = {}

    def reseed_rng(self) -> None:
        self._rng = np.random.default_rng()
        self._independent.reseed_rng()

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {
            name: d
            for name, d in self._space.calculate(study).items()
            if isinstance(d, (FloatDistribution, IntDistribution)) and not d.single()
        }

    def _points(self, trials: Sequence[FrozenTrial], names: list[str], space: dict[str, Any]) -> Any:
        return np.array([[_to_unit(space[n], t.params[n]) for n in names] for t in trials]).reshape(-1, len(names))

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space or len(study.directions) != 1:
            return {}
        names = sorted(search_space)
        space: dict[str, Any] = dict(search_space)

        def usable(states: tuple[TrialState, ...]) -> list[FrozenTrial]:
            found = study.get_trials(deepcopy=False, states=states)
            return [t for t in found if t.number != trial.number and all(n in t.params for n in names)]

        done = usable((TrialState.COMPLETE,))
        if len(done) < self._n_startup:
            return {}
        from scipy.stats import norm
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel
        from threadpoolctl import threadpool_limits

        sign = 1.0 if study.direction == optuna.study.StudyDirection.MINIMIZE else -1.0
        x = self._points(done, names, space)
        y = np.array([sign * float(t.value) for t in done])  # type: ignore[arg-type]
        pending = usable((TrialState.RUNNING,))
        best = y.min()
        if pending:
            # Constant liar at the mean (the best drew every agent to one region; the worst distorted the scale).
            x = np.vstack([x, self._points(pending, names, space)])
            y = np.concatenate([y, np.full(len(pending), y.mean())])
        dims = len(names)
        kernel = ConstantKernel(1.0, (1e-3, 1e3)) * Matern(
            length_scale=np.full(dims, 0.3), length_scale_bounds=(1e-3, 1e1), nu=2.5
        ) + WhiteKernel(1e-6, (1e-10, 1e-1))
        default = kernel.theta
        key = tuple(names)
        theta, fitted_on, cold_on = self._fitted.get(key, (None, 0, 0))
        refit = theta is None or len(y) >= _REFIT_GROWTH * fitted_on
        cold = theta is None or len(y) >= _COLD_FIT_GROWTH * cold_on
        if theta is not None:
            kernel = kernel.clone_with_theta(theta)  # sklearn's optimiser starts at the kernel's theta
        optimizer = _optimizer([kernel.theta, *([default] if cold else [])]) if refit else None
        gp = GaussianProcessRegressor(kernel, normalize_y=True, optimizer=optimizer)
        candidates = [self._rng.random((self._candidates, dims))]
        for i in np.argsort(y[: len(done)])[:3]:  # local refinement around the best trials
            for scale in (0.1, 0.02, 0.004):
                candidates.append(np.clip(x[i] + self._rng.normal(0.0, scale, (200, dims)), 0.0, 1.0))
        points = np.vstack(candidates)
        with threadpool_limits(limits=1, user_api="blas"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # length-scale bounds on easy objectives
            gp.fit(x, y)
            mean, std = gp.predict(points, return_std=True)
        if refit:
            self._fitted[key] = (gp.kernel_.theta, len(y), len(y) if cold else cold_on)
        std = np.maximum(std, 1e-12)
        z = (best - mean) / std
        improvement = (best - mean) * norm.cdf(z) + std * norm.pdf(z)
        chosen = points[int(np.argmax(improvement))]
        return {n: _from_unit(space[n], float(u)) for n, u in zip(names, chosen, strict=True)}

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self._independent.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._independent.before_trial(study, trial)

    def after_trial(
        self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        self._independent.after_trial(study, trial, state, values)
