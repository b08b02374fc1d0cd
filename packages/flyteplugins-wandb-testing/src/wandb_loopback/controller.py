"""Sweep controller: answers agent heartbeats with parameter sets from a search engine.

The engine is W&B's own, the ``sweeps`` package (the ``wandb[sweeps]`` extra, what W&B's server runs,
so agents get the server's suggestions), when it is installed. It pins numpy<2, so where it is not,
the controller falls back to the engine of ``flyteplugins-wandb-sweeps`` (pure-Python grid and
random, a Gaussian-process bayes; numpy 2 ready), imported only at that point: nothing else in this
package depends on flyteplugins. Either way this module keeps the bookkeeping a real controller does
around the engine:

- work is handed out only to an idle agent (its heartbeat reports no running or queued run), because
  the agent queues whatever it is sent;
- a parameter set handed out but never started (an agent stopped by ``count`` right after receiving
  it, or one that died) goes back into the pool and is issued again;
- when a grid is used up, agents get ``exit`` and the sweep becomes ``FINISHED`` once nothing runs.
"""

from __future__ import annotations

import importlib
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from .gql_values import GraphQLFailure
from .protocol import log
from .store import AgentRecord, Handout, Store, SweepRecord, random_id

ACTIVE_STATES = ("RUNNING", "PENDING")


def _plain(value: Any) -> Any:
    """numpy scalars from the engine -> JSON-safe Python values."""
    if hasattr(value, "item") and callable(value.item):
        try:
            return value.item()
        except (TypeError, ValueError):
            pass
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


ENGINE_MISSING = (
    "the fake W&B server's sweep controller needs a sweep engine: "
    "pip install 'flyteplugins-wandb-testing[sweeps]' (the engine of flyteplugins-wandb-sweeps, numpy 2) "
    "or 'flyteplugins-wandb-testing[sweeps-wandb-engine]' (W&B's own, the `sweeps` package; pins numpy<2)"
)


@dataclass
class EngineRun:
    """A sweep's run as the engines see it: ``state`` is finished/failed/crashed/running/pending."""

    name: str
    state: str
    config: dict[str, Any]  # W&B's wrapped form: {"lr": {"value": 0.1}}
    summary: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)


class Engine(Protocol):
    """Suggests the next parameter set (W&B's wrapped form) from the sweep's runs; None: grid done."""

    name: str

    def next_params(self, config: dict[str, Any], runs: list[EngineRun]) -> dict[str, Any] | None: ...


class _WandbEngine:
    name = "sweeps"

    def __init__(self, module: Any) -> None:
        self._sweeps = module

    def next_params(self, config: dict[str, Any], runs: list[EngineRun]) -> dict[str, Any] | None:
        engine_runs = [
            self._sweeps.SweepRun(
                name=r.name, state=r.state, config=r.config, summaryMetrics=r.summary, sampledHistory=r.history
            )
            for r in runs
        ]
        suggestion = self._sweeps.next_run(config, engine_runs, validate=False)
        return None if suggestion is None else _plain(dict(suggestion.config))


class _PluginEngine:
    name = "flyteplugins-wandb-sweeps"

    def __init__(self, module: Any) -> None:
        self._engine = module

    def next_params(self, config: dict[str, Any], runs: list[EngineRun]) -> dict[str, Any] | None:
        history = [(self._engine.unwrap_params(r.config), r.state, r.summary) for r in runs]
        params = self._engine.next_params(config, history)
        return None if params is None else self._engine.wrap_params(params)


def _import(name: str, attribute: str) -> Any | None:
    try:
        module = importlib.import_module(name)
    except ImportError:
        return None
    # A folder named sweeps/ on sys.path (a test folder) imports as a namespace package: not the engine.
    return module if hasattr(module, attribute) else None


def _engine() -> Engine:
    # W&B's engine, PyPI `sweeps`, imported by name so that tools looking at integration-tests/ do not
    # take the integration-tests/sweeps/ test folder for it. Both engines are optional: they pull numpy,
    # scipy and scikit-learn, which tests without sweeps should not need.
    sweeps = _import("sweeps", "next_run")
    if sweeps is not None:
        return _WandbEngine(sweeps)
    plugin = _import("flyteplugins.wandb_sweeps._engine", "next_params")
    if plugin is not None:
        return _PluginEngine(plugin)
    log.warning("%s", ENGINE_MISSING)
    raise GraphQLFailure(ENGINE_MISSING)


def has_engine() -> bool:
    """Whether a sweep engine is importable (W&B's ``sweeps``, or flyteplugins-wandb-sweeps)."""
    try:
        _engine()
    except GraphQLFailure:
        return False
    return True


class SweepController:
    def __init__(self, store: Store) -> None:
        self.store = store

    def register_agent(self, sweep: SweepRecord, host: str | None) -> AgentRecord:
        # Without an engine no heartbeat can hand out a run: refuse the agent (wandb.agent raises with
        # the message) rather than let it wait for a job forever. A sweep alone needs none (prior_runs).
        _engine()
        with self.store.lock:
            agent = AgentRecord(id=random_id(12), sweep=sweep.name, host=host)
            sweep.agents[agent.id] = agent
            self.store.agents[agent.id] = agent
            return agent

    def heartbeat(self, agent: AgentRecord, run_state: dict[str, Any]) -> list[dict[str, Any]]:
        with self.store.lock:
            now = time.time()
            if agent.heartbeats:
                agent.interval = max(0.05, now - agent.last_heartbeat)
            agent.last_heartbeat = now
            agent.heartbeats += 1
            sweep = self.store.get_sweep(agent.sweep)
            if sweep is None:
                return self._send(agent, {"type": "exit"})
            self._settle(sweep, agent, run_state)
            if sweep.state in ("CANCELED", "FINISHED", "CRASHED"):
                return self._send(agent, {"type": "exit"})
            if sweep.state not in ACTIVE_STATES or run_state:
                return []  # paused, or busy: the agent would queue a second job behind the running one
            params = self._next_params(sweep)
            if params is None:
                if sweep.handouts:
                    return []  # another agent may still drop its set; wait rather than exit early
                sweep.state = "FINISHED"
                return self._send(agent, {"type": "exit"})
            run_id = random_id(8)
            sweep.handouts[run_id] = Handout(run_id=run_id, agent_id=agent.id, params=params, at=now)
            return self._send(agent, {"type": "run", "run_id": run_id, "args": params})

    # -- internals --------------------------------------------------------------------------------
    @staticmethod
    def _send(agent: AgentRecord, command: dict[str, Any]) -> list[dict[str, Any]]:
        agent.commands.append(command)
        if command["type"] == "exit":
            agent.exited = True
        return [command]

    def _settle(self, sweep: SweepRecord, agent: AgentRecord, run_state: dict[str, Any]) -> None:
        """Claim handouts that became runs; release those their agent dropped or never started."""
        now = time.time()
        for run_id, handout in list(sweep.handouts.items()):
            if run_id in sweep.run_names:
                del sweep.handouts[run_id]
                continue
            if handout.agent_id == agent.id:
                if run_id in run_state:
                    handout.seen_running = True
                else:
                    # The agent marks a job queued before its next heartbeat, so a heartbeat
                    # without it means the agent stopped it or its trial never opened a run.
                    self._release(sweep, run_id)
                continue
            owner = sweep.agents.get(handout.agent_id)
            if owner is None or owner.exited or now - owner.last_heartbeat > 3 * owner.interval + 1.0:
                self._release(sweep, run_id)

    @staticmethod
    def _release(sweep: SweepRecord, run_id: str) -> None:
        handout = sweep.handouts.pop(run_id)
        # A set that was never started goes out again; one whose trial ran without opening a run
        # is dropped, or a broken trial function would loop over the same point forever.
        if sweep.method == "grid" and not handout.seen_running:
            sweep.reissue.append(handout.params)

    def _engine_runs(self, sweep: SweepRecord) -> list[EngineRun]:
        out = []
        for run in self.store.sweep_runs(sweep):
            state = {"finished": "finished", "failed": "failed", "crashed": "crashed"}.get(run.state, "running")
            out.append(EngineRun(run.id, state, dict(run.raw_config), run.summary, run.history))
        for handout in sweep.handouts.values():
            out.append(EngineRun(handout.run_id, "pending", handout.params))
        return out

    def _next_params(self, sweep: SweepRecord) -> dict[str, Any] | None:
        if sweep.reissue:
            return sweep.reissue.pop(0)
        engine = _engine()

        config = dict(sweep.config)
        if config.get("method") == "bayes" and "metric" not in config:
            raise ValueError("bayes sweeps need a metric")
        params = engine.next_params(config, self._engine_runs(sweep))
        if params is None:
            return None
        # JSON cannot carry NaN/inf; the engines never propose them for sane configs.
        json.dumps(params, allow_nan=False)
        return {k: v if isinstance(v, dict) and "value" in v else {"value": v} for k, v in params.items()}


def count_expected(sweep: SweepRecord) -> int | None:
    """Number of runs a grid sweep will have (``runCountExpected``)."""
    if sweep.method != "grid":
        return None
    total = 1
    for spec in (sweep.config.get("parameters") or {}).values():
        if isinstance(spec, dict) and "values" in spec:
            total *= len(spec["values"])
        elif isinstance(spec, dict) and "min" in spec and "max" in spec and isinstance(spec["min"], int):
            total *= int(spec["max"]) - int(spec["min"]) + 1
    return total if total < math.inf else None
