"""Run as a script (so every task lives in ``__main__`` and is pickled by value); writes the pickles.

``python pickle_producer.py OUT_DIR`` writes ``task.pkl`` (the Flyte task object), ``func.pkl``
(``task.func``, what flyteplugins-pytorch cloudpickles into each Elastic worker) and ``atask.pkl``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cloudpickle
import flyte

from flyteplugins.wandb import get_wandb_run, wandb_init

env = flyte.TaskEnvironment(name="pickled")


@wandb_init  # a tracked plain function: inside a task it logs to the task's run
def helper(x: int) -> None:
    get_wandb_run().log({"helper": x})


@wandb_init(project="pickled", config={"source": "by-value"})
@env.task
def train(x: int) -> int:
    get_wandb_run().log({"x": x})
    helper(x)
    return x * 2


@wandb_init(project="pickled", run_mode="new")
@env.task
async def atrain(x: int) -> int:
    get_wandb_run().log({"ax": x})
    return x + 1


if __name__ == "__main__":
    out = Path(sys.argv[1])
    (out / "task.pkl").write_bytes(cloudpickle.dumps(train))
    (out / "func.pkl").write_bytes(cloudpickle.dumps(train.func))
    (out / "atask.pkl").write_bytes(cloudpickle.dumps(atrain))
