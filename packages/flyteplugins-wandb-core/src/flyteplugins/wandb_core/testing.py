"""Read offline W&B runs back: for tests of tracked workflows, without a W&B server.

``read_offline_runs("wandb")`` parses every ``offline-run-*/run-*.wandb`` file (the transaction log the
wandb SDK writes) into `OfflineRun` objects holding id, group, config, history, summary and exit
code. Imports ``wandb`` (for its protobuf definitions) when called. The reader itself lives in
``flyteplugins.wandb_core._offline`` (extensions reach it through ``flyteplugins.wandb_core.ext``).
"""

from __future__ import annotations

from ._offline import OfflineRun, read_offline_run, read_offline_runs, runs_by_id

__all__ = ["OfflineRun", "read_offline_run", "read_offline_runs", "runs_by_id"]
