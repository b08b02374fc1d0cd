"""The fake W&B server without a sweep engine (`flyteplugins-wandb[testing]` alone) says so at once.

Found by QA: with neither engine installed, `wandb.sweep(...)` worked and `wandb.agent(...)` then
printed "Waiting for job" forever (each heartbeat failed inside the server), so a user's test hung
instead of naming the extra to install.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.integration

AGENT = textwrap.dedent(
    """
    import wandb

    sweep_id = wandb.sweep(
        {"method": "random", "metric": {"name": "loss"}, "parameters": {"x": {"min": 0.0, "max": 1.0}}},
        project="no-engine",
    )

    def objective():
        with wandb.init() as run:
            run.log({"loss": run.config.x})

    wandb.agent(sweep_id, function=objective, count=1, project="no-engine")
    """
)


def test_an_agent_is_refused_with_the_extra_to_install(wandb_server, monkeypatch: pytest.MonkeyPatch) -> None:
    # The server runs in this process: hide both engines from it, as in an install without them.
    monkeypatch.setitem(sys.modules, "sweeps", None)
    monkeypatch.setitem(sys.modules, "flyteplugins.wandb_sweeps._engine", None)
    try:
        proc = subprocess.run([sys.executable, "-c", AGENT], capture_output=True, text=True, timeout=60, check=False)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"wandb.agent waited for a job the server can never send:\n{str(exc.stderr)[-2000:]}")
    assert proc.returncode != 0
    assert "pip install 'flyteplugins-wandb-testing[sweeps]'" in proc.stderr, proc.stderr[-3000:]
    assert [run.id for run in wandb_server.runs(project="no-engine")] == []
