"""Read offline W&B runs back, for tests of tracked workflows without a W&B server: ``read_offline_runs("wandb")``
parses each ``offline-run-*/run-*.wandb`` log into an `OfflineRun` (id, group, config, history, summary, exit code)."""

from ._offline import OfflineRun, read_offline_run, read_offline_runs, runs_by_id

__all__ = ["OfflineRun", "read_offline_run", "read_offline_runs", "runs_by_id"]
