"""Tasks shared by the artifact tests: a producer/consumer pair and a checkpointed training loop."""

from __future__ import annotations

import os
import tempfile

import flyte
import flyte.io

from flyteplugins.wandb import (
    get_wandb_run,
    log_wandb_artifact,
    restore_wandb_checkpoint,
    save_wandb_checkpoint,
    use_wandb_artifact,
    wandb_init,
)

env = flyte.TaskEnvironment(name="artifacts")

# What each training attempt did, for the test to read: (first step it ran, restored step or None).
ATTEMPTS: list[tuple[int, int | None]] = []
FAIL_AT = {"step": -1}  # attempt 1 raises just before logging this step (-1: never)
TOTAL_STEPS = 8


def make_dataset() -> str:
    root = tempfile.mkdtemp(prefix="dataset-")
    with open(os.path.join(root, "train.csv"), "w") as f:
        f.write("x,y\n1,2\n3,4\n")
    os.makedirs(os.path.join(root, "meta"))
    with open(os.path.join(root, "meta", "info.txt"), "w") as f:
        f.write("two rows")
    return root


@wandb_init(project="art", job_type="produce")
@env.task
async def produce() -> str:
    local = make_dataset()
    data = await flyte.io.Dir.from_local(local)
    art = await log_wandb_artifact.aio(data, name="training-data", type="dataset", metadata={"rows": 2})
    art.wait()
    return get_wandb_run().id


@wandb_init(project="art", job_type="consume")
@env.task
def consume(ref: str) -> tuple[str, str]:
    data = use_wandb_artifact(ref, type="dataset")
    local = data.download_sync()
    with open(os.path.join(local, "train.csv")) as f:
        text = f.read()
    return get_wandb_run().id, text


@env.task
async def pipeline() -> tuple[str, str, str]:
    producer = await produce()
    consumer, text = await consume.aio("art/training-data:latest")
    return producer, consumer, text


@wandb_init(project="art", log_outputs=True)
@env.task
def with_outputs() -> tuple[flyte.io.File, int]:
    path = os.path.join(tempfile.mkdtemp(), "model.bin")
    with open(path, "wb") as f:
        f.write(b"\x00weights")
    return flyte.io.File.from_local_sync(path), 3


@wandb_init(project="ckpt")
@env.task(retries=1)
def train() -> int:
    run = get_wandb_run()
    found = restore_wandb_checkpoint()
    start = found.step + 1 if found else 0
    if found:
        with open(found.path) as f:
            assert int(f.read()) == found.step  # the checkpoint holds its own step
    ATTEMPTS.append((start, found.step if found else None))
    workdir = tempfile.mkdtemp()
    for step in range(start, TOTAL_STEPS):
        if len(ATTEMPTS) == 1 and step == FAIL_AT["step"]:
            raise RuntimeError(f"preempted at step {step}")
        run.log({"loss": 1.0 / (step + 1)}, step=step)
        ckpt = os.path.join(workdir, "state.txt")
        with open(ckpt, "w") as f:
            f.write(str(step))
        save_wandb_checkpoint(ckpt, step=step)
    return start


@wandb_init(project="art")
@env.task
async def read_model(ref: str) -> bytes:
    model = await use_wandb_artifact.aio(ref)  # one file: a flyte.io.File
    assert isinstance(model, flyte.io.File)
    with open(await model.download(), "rb") as f:
        return f.read()
