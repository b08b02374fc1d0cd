"""A ``@wandb_sweep`` task declared with ``report=True``: run_sweep_agents writes the sweep section.

Real offline sweep (W&B's open-source engine in the sweep task), real agent tasks in Flyte local mode,
real offline trial runs.
"""

from __future__ import annotations

import math

import flyte
import pytest

from flyteplugins.wandb import get_wandb_run, wandb_init

pytestmark = pytest.mark.integration

env = flyte.TaskEnvironment(name="report_sweeps_pkg_it")

sweeps = pytest.importorskip("flyteplugins.wandb_sweeps", reason="flyteplugins-wandb-sweeps is not installed")


@wandb_init
def sweep_trial() -> None:
    run = get_wandb_run()
    lr = run.config["lr"]
    for step in range(10):
        run.log({"val_loss": (math.log10(lr) + 2) ** 2 + 1 / (step + 1)})


@sweeps.wandb_sweep(
    mode="offline",
    project="sweep-report",
    method="grid",
    metric={"name": "val_loss", "goal": "minimize"},
    parameters={"lr": {"values": [0.1, 0.01, 0.001, 0.0001]}},
)
@env.task(report=True)
async def real_sweep() -> dict:
    result = await sweeps.run_sweep_agents.aio(sweep_trial, count=4, agents=2)
    return {"trials": [t.run_id for t in result.trials], "best": result.best.run_id, "id": result.sweep_id}


def test_wandb_sweep_task_with_report_gets_the_sweep_tab(run_with_report) -> None:
    rep = run_with_report(real_sweep)
    out = rep.outputs[0]
    [section] = rep.tab().find_all("section", cls="fwb-sweep")
    assert section.attrs["data-sweep-id"] == out["id"] and section.attrs["data-metric"] == "val_loss"
    rows = [tr for tr in section.find_all("tr") if "data-run-id" in tr.attrs]
    assert [tr.attrs["data-run-id"] for tr in rows] == out["trials"]
    assert [tr.attrs["data-run-id"] for tr in rows if tr.attrs["data-best"] == "true"] == [out["best"]]
    charts = {f.attrs["data-chart"] for f in section.find_all("figure", cls="fwb-chart")}
    assert charts == {"per-trial", "per-step"}  # per-step curves read from the trials' offline logs
