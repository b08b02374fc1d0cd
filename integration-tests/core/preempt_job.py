"""A tracked Flyte local-mode task that logs steps until it is stopped (run by test_preempt.py).

    python preempt_job.py KIND PROGRESS_FILE [FIRST_STEP [STEPS]] [--own-handler]

KIND is ``async`` or ``sync``. After each ``run.log`` returns, the step number is appended to
PROGRESS_FILE with one unbuffered ``os.write``, so the file lists exactly the steps the task had
logged when a signal arrived. ``--own-handler`` installs a SIGTERM handler of the application's own
before the plugin is imported (it prints a line and exits with status 7), to check the plugin chains
to it. The Flyte run name is fixed, so a second process continues the same W&B run (a retry).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

if "--own-handler" in sys.argv:
    sys.argv.remove("--own-handler")

    def _own(signum: int, frame: object) -> None:
        os.write(2, b"own handler ran\n")
        os._exit(7)

    signal.signal(signal.SIGTERM, _own)

import flyte  # the handler above must come first

from flyteplugins.wandb import get_wandb_run, wandb_init

env = flyte.TaskEnvironment(name="preempt")
KIND, PROGRESS = sys.argv[1], sys.argv[2]
FIRST = int(sys.argv[3]) if len(sys.argv) > 3 else 0
STEPS = int(sys.argv[4]) if len(sys.argv) > 4 else 1_000_000
_progress = os.open(PROGRESS, os.O_WRONLY | os.O_CREAT | os.O_APPEND)


def _logged(step: int) -> None:
    os.write(_progress, f"{step}\n".encode())


@wandb_init(project="preempt")
@env.task
async def train_async() -> int:
    run = get_wandb_run()
    for step in range(FIRST, FIRST + STEPS):
        run.log({"i": step, "loss": 1.0 / (step + 1)})
        _logged(step)
        await asyncio.sleep(0.002)
    return FIRST + STEPS


@wandb_init(project="preempt")
@env.task
def train_sync() -> int:
    run = get_wandb_run()
    for step in range(FIRST, FIRST + STEPS):
        run.log({"i": step, "loss": 1.0 / (step + 1)})
        _logged(step)
        time.sleep(0.002)
    return FIRST + STEPS


if __name__ == "__main__":
    flyte.init()
    task = {"async": train_async, "sync": train_sync}[KIND]
    result = flyte.with_runcontext(mode="local", name="preempted").run(task)
    print(f"result={result.outputs()[0]}", flush=True)
