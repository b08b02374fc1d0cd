"""``engine="wandb"``: W&B's own engine (PyPI ``sweeps``, what the server runs); an extra: it pins numpy<2."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from flyteplugins.wandb_core import WandbConfigError

from ._engine import unwrap_params, wrap_params
from ._space import Run, finite_number

EXTRA = "flyteplugins-wandb[sweeps-wandb-engine]"


def sweeps_module() -> Any:
    """The ``sweeps`` package, or an error naming the extra that installs it."""
    try:
        with warnings.catch_warnings():
            # sweeps 0.3.0 still declares a pydantic-v1 style Config; harmless, but noisy on import.
            warnings.simplefilter("ignore")
            import sweeps

        # A folder named "sweeps" on sys.path (a project's own tests, say) imports as a namespace
        # package: only W&B's engine has next_runs.
        if not callable(getattr(sweeps, "next_runs", None)):
            raise ImportError("not W&B's sweeps engine")
    except ImportError:
        raise WandbConfigError(
            f"run_sweep_agents: engine='wandb' needs W&B's sweep engine (the `sweeps` package), which is "
            f"not installed: pip install '{EXTRA}'. It pins numpy<2; the default engine needs nothing more."
        ) from None
    return sweeps


class WandbSearch:
    """Asks ``sweeps.next_runs`` / ``sweeps.stop_runs`` with every run so far, as the server does."""

    def __init__(self, config: Mapping[str, Any], prior: Sequence[Run] = ()) -> None:
        self._sweeps = sweeps_module()
        from jsonschema import ValidationError

        try:
            self.config = dict(self._sweeps.SweepConfig(dict(config)))
        except (ValidationError, ValueError) as exc:
            raise WandbConfigError(
                f"W&B's sweep engine refuses the definition: {getattr(exc, 'message', exc)}"
            ) from None
        self.metric_name: str | None = (self.config.get("metric") or {}).get("name")
        self._lock = threading.Lock()
        self._runs: dict[str, dict[str, Any]] = {}
        for i, (params, state, summary) in enumerate(prior):
            self._runs[f"prior-{i}"] = {"params": params, "state": state, "summary": summary, "history": []}

    def _engine_runs(self) -> list[Any]:
        rs = self._sweeps.RunState
        states = {"finished": rs.finished, "failed": rs.failed, "stopped": rs.killed}
        out = []
        for name, run in self._runs.items():
            value = finite_number(run["summary"].get(self.metric_name)) if self.metric_name else None
            out.append(
                self._sweeps.SweepRun(
                    name=name,
                    state=states.get(run["state"], rs.running),
                    config=wrap_params(run["params"]),
                    # The engine only reads the sweep metric; non-finite values would break bayes.
                    summary_metrics={} if value is None else {self.metric_name: value},
                    history=run["history"],
                )
            )
        return out

    def ask(self) -> tuple[str, dict[str, Any]] | None:
        with self._lock, warnings.catch_warnings():
            # The engine's Gaussian process warns about length-scale bounds on easy objectives.
            warnings.simplefilter("ignore")
            (suggestion,) = self._sweeps.next_runs(self.config, self._engine_runs(), validate=False, n=1)
            if suggestion is None:  # the grid is complete
                return None
            name = f"run-{len(self._runs)}"
            params = unwrap_params(suggestion.config)
            self._runs[name] = {"params": params, "state": "running", "summary": {}, "history": []}
            return name, params

    def tell(self, handle: str, state: str, summary: Mapping[str, Any]) -> None:
        with self._lock:
            self._runs[handle].update(state=state, summary=dict(summary))

    def observe(self, handle: str, step: int, value: float) -> bool:
        with self._lock:
            self._runs[handle]["history"].append({self.metric_name: value})
            try:
                to_stop = self._sweeps.stop_runs(self.config, self._engine_runs(), validate=False)
            except ValueError:
                return False
            return any(run.name == handle for run in to_stop)
