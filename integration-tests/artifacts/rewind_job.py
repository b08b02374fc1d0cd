"""A tracked training task that checkpoints every 5 steps; the first attempt stalls after a step.

    python rewind_job.py PROGRESS_FILE TOTAL_STEPS ATTEMPT [STALL_AFTER]

Run by test_checkpoint_rewind.py. Each logged step is appended to PROGRESS_FILE. With STALL_AFTER,
the job sleeps after logging that step (past its last checkpoint), for the test to send SIGTERM.
Every row carries ``attempt``, so the test can tell whose value each step holds.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import flyte

from flyteplugins.wandb import get_wandb_run, restore_wandb_checkpoint, save_wandb_checkpoint, wandb_init

env = flyte.TaskEnvironment(name="rewind_job")
PROGRESS, TOTAL, ATTEMPT = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
STALL_AFTER = int(sys.argv[4]) if len(sys.argv) > 4 else -1
_progress = os.open(PROGRESS, os.O_WRONLY | os.O_CREAT | os.O_APPEND)


@wandb_init(project="rewind-ckpt")
@env.task
def train() -> int:
    run = get_wandb_run()
    found = restore_wandb_checkpoint()
    start = found.step + 1 if found else 0
    print(f"restored={found.step if found else -1} start={start}", flush=True)
    state = os.path.join(tempfile.mkdtemp(), "state.txt")
    for step in range(start, TOTAL):
        run.log({"loss": 1.0 / (step + 1), "attempt": ATTEMPT}, step=step)
        if step % 5 == 0:
            with open(state, "w") as f:
                f.write(str(step))
            save_wandb_checkpoint(state, step=step).wait()  # committed before the next steps
        os.write(_progress, f"{step}\n".encode())
        if step == STALL_AFTER:
            time.sleep(600)  # stopped here by SIGTERM
    return start


if __name__ == "__main__":
    flyte.init()
    flyte.with_runcontext(mode="local", name="ckpt-rewound").run(train)
