"""Sweep controller: answers agent heartbeats with parameter sets from W&B's own engine (``sweeps``).

The ``sweeps`` package (the ``wandb[sweeps]`` extra) implements grid, random and bayes search; this
module keeps the bookkeeping a real controller does around it:

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
from typing import Any

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
    "the fake W&B server's sweep controller needs W&B's sweep engine, the `sweeps` package: "
    "pip install 'flyteplugins-wandb-testing[sweeps]' (or 'wandb[sweeps]')"
)


def _engine() -> Any:
    # W&B's engine, PyPI `sweeps` (imported by name so that tools looking at integration-tests/ do
    # not take the integration-tests/sweeps/ test folder for it). Optional: it pulls numpy, scipy and
    # scikit-learn, which tests without sweeps should not need.
    try:
        engine = importlib.import_module("sweeps")
    except ImportError as exc:
        log.warning("%s", ENGINE_MISSING)
        raise GraphQLFailure(ENGINE_MISSING) from exc
    if not hasattr(engine, "next_run"):  # a folder named sweeps/ on sys.path, not the engine
        log.warning("%s", ENGINE_MISSING)
        raise GraphQLFailure(f"{ENGINE_MISSING}; `import sweeps` found {engine!r}")
    return engine


def has_engine() -> bool:
    """Whether W&B's sweep engine is importable (the ``sweeps`` extra is installed)."""
    try:
        _engine()
    except GraphQLFailure:
        return False
    return True


class SweepController:
    def __init__(self, store: Store) -> None:
        self.store = store

    def register_agent(self, sweep: SweepRecord, host: str | None) -> AgentRecord:
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

    def _engine_runs(self, sweep: SweepRecord) -> list[Any]:
        sweeps = _engine()

        out = []
        for run in self.store.sweep_runs(sweep):
            state = {"finished": "finished", "failed": "failed", "crashed": "crashed"}.get(
                run.state, "running"
            )
            out.append(
                sweeps.SweepRun(
                    name=run.id,
                    state=state,
                    config=dict(run.raw_config),
                    summaryMetrics=run.summary,
                    sampledHistory=run.history,
                )
            )
        for handout in sweep.handouts.values():
            out.append(sweeps.SweepRun(name=handout.run_id, state="pending", config=handout.params))
        return out

    def _next_params(self, sweep: SweepRecord) -> dict[str, Any] | None:
        if sweep.reissue:
            return sweep.reissue.pop(0)
        sweeps = _engine()

        config = dict(sweep.config)
        if config.get("method") == "bayes" and "metric" not in config:
            raise ValueError("bayes sweeps need a metric")
        suggestion = sweeps.next_run(config, self._engine_runs(sweep), validate=False)
        if suggestion is None:
            return None
        params = _plain(dict(suggestion.config))
        # JSON cannot carry NaN/inf; the engine never proposes them for sane configs.
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
