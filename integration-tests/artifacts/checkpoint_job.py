"""A tracked training task that checkpoints every step and resumes from the latest checkpoint.

    python checkpoint_job.py PROGRESS_FILE TOTAL_STEPS

Run by test_checkpoint_preempt.py: the first process is stopped with SIGTERM mid-run, the second
(same Flyte run name, so the same W&B run) restores the checkpoint and trains to TOTAL_STEPS. After
each checkpoint is saved the step is appended to PROGRESS_FILE; the restored step (or -1) and the
first step run are printed as ``restored=R start=S``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import flyte

from flyteplugins.wandb import get_wandb_run, restore_wandb_checkpoint, save_wandb_checkpoint, wandb_init

env = flyte.TaskEnvironment(name="ckpt_job")
PROGRESS, TOTAL = sys.argv[1], int(sys.argv[2])
_progress = os.open(PROGRESS, os.O_WRONLY | os.O_CREAT | os.O_APPEND)


@wandb_init(project="preempt-ckpt")
@env.task
def train() -> int:
    run = get_wandb_run()
    found = restore_wandb_checkpoint()
    start = found.step + 1 if found else 0
    if found:
        with open(found.path) as f:
            assert int(f.read()) == found.step
    print(f"restored={found.step if found else -1} start={start}", flush=True)
    state = os.path.join(tempfile.mkdtemp(), "state.txt")
    for step in range(start, TOTAL):
        run.log({"loss": 1.0 / (step + 1)}, step=step)
        with open(state, "w") as f:
            f.write(str(step))
        save_wandb_checkpoint(state, step=step)
        os.write(_progress, f"{step}\n".encode())
        time.sleep(0.05)
    return start


if __name__ == "__main__":
    flyte.init()
    flyte.with_runcontext(mode="local", name="ckpt-preempted").run(train)
