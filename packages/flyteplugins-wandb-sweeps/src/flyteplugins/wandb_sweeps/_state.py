"""The sweep a task body works with: shared by the decorator, the launcher and the log collection."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Literal

from ._config import SWEEP_ENTITY_KEY, SWEEP_FIELDS, SWEEP_ID_KEY, SWEEP_MODE_KEY, SWEEP_PROJECT_KEY

SweepMode = Literal["online", "offline", "disabled"]


@dataclass
class SweepState:
    """The sweep a task body works with (internal)."""

    sweep_id: str
    mode: SweepMode
    config: dict[str, Any]
    name: str | None = None
    project: str | None = None
    entity: str | None = None
    host: str | None = None
    download_logs: bool = False
    prior_runs: list[str] = field(default_factory=list)
    # Online: the sweep already existed on the server under this name (a retried or re-run task).
    resumed: bool = False
    # The action whose body owns this object; children (even in this process) rebuild their own view
    # from custom_context, as remote children do.
    owner_action: str | None = None
    # Filled by run_sweep_agents: offline run directories of every trial, and whether logs were collected.
    run_dirs: list[str] = field(default_factory=list)
    logs_collected: bool = False
    # report=True task: run_sweep_agents writes the trials so far into its "Weights & Biases" tab.
    report: bool = False
    report_trials: list[Any] = field(default_factory=list)
    # The sweep task's secrets (e.g. WANDB_API_KEY): the built-in agent tasks inherit them.
    secrets: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def context_keys(self) -> dict[str, str]:
        # The effective definition (context + decorator) goes to children that reuse the sweep.
        config = dict(self.config)
        values: dict[str, Any] = {k: config.pop(k) for k in ("name", "method", "metric", "parameters") if k in config}
        values.update(project=self.project, entity=self.entity, kwargs=config or None)
        keys = SWEEP_FIELDS.encode(values)
        keys.update({SWEEP_ID_KEY: self.sweep_id, SWEEP_MODE_KEY: self.mode})
        if self.project:
            keys[SWEEP_PROJECT_KEY] = self.project
        if self.entity:
            keys[SWEEP_ENTITY_KEY] = self.entity
        return keys
