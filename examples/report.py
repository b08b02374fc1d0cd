"""See a tracked task's W&B run in its Flyte report: run, summary and a chart per metric, offline too.

    python examples/report.py

``report=True`` on the task turns on its Flyte report; ``@wandb_init`` then adds a "Weights & Biases"
tab when the task ends. The charts are drawn from what the run logged in this process, so the tab
works without reaching W&B (charts need ``pip install 'flyteplugins-wandb[report]'``; without it the
tab shows the tables and a hint). In local mode Flyte writes the report under
``/tmp/flyte/metadata/<run name>/``; this script prints its path.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import flyte

from flyteplugins.wandb import get_wandb_run, wandb_init

env = flyte.TaskEnvironment(name="wandb_report_example")


@wandb_init(run_mode="new", job_type="eval")  # a run of its own: listed in the task's tab too
def evaluate(model_quality: float) -> float:
    run = get_wandb_run()
    for step in range(20):
        run.log({"eval/accuracy": model_quality * (1 - math.exp(-step / 5))})
    return model_quality


@wandb_init(project="report-example", config={"lr": 0.05, "epochs": 300})
@env.task(report=True)
def train() -> float:
    run = get_wandb_run()
    loss = 2.0
    for step in range(run.config["epochs"]):
        loss = 0.1 + 1.9 * math.exp(-step * run.config["lr"] / 3) + 0.02 * math.sin(step / 4)
        run.log({"train/loss": loss, "train/lr": run.config["lr"] * 0.995**step, "epoch": step // 30})
    run.summary["final_loss"] = loss
    evaluate(1 - loss / 2)
    return loss


def main() -> None:
    flyte.init()
    run = flyte.with_runcontext(mode="local").run(train)
    print(f"final loss: {run.outputs()[0]:.4f}")
    reports = sorted(Path(run.url).rglob("report.html"))
    if not reports:
        sys.exit("no report was written")
    for path in reports:
        print(f"report: {path}")


if __name__ == "__main__":
    main()
