"""Tasks for the registry and retention tests: a producer that promotes a model, a consumer that
deploys from the registry, and a 40-step training loop that keeps few checkpoints."""

from __future__ import annotations

import os
import tempfile

import flyte

from flyteplugins.wandb import get_wandb_run, log_wandb_artifact, save_wandb_checkpoint, use_wandb_artifact, wandb_init

env = flyte.TaskEnvironment(name="registry")

STEPS = 40
EVERY = 5
# The loss of each saved step: lowest at step 15, so keep_best has a winner that keep_last drops.
LOSS = {s: (0.1 if s == 15 else 1.0 / (s + 1) + 0.2) for s in range(STEPS)}


@wandb_init(project="reg")
@env.task
def produce() -> str:
    path = os.path.join(tempfile.mkdtemp(), "model.bin")
    with open(path, "wb") as f:
        f.write(b"\x00weights-v1")
    registry = "wandb-registry-model/demo"
    log_wandb_artifact(path, name="my-model", type="model", registry=registry, registry_aliases=["staging"])
    return get_wandb_run().id


@wandb_init(project="serve")
@env.task
def consume() -> tuple[str, bytes]:
    model = use_wandb_artifact("wandb-registry-model/demo:staging", type="model")
    with open(model.download_sync(), "rb") as f:
        return get_wandb_run().id, f.read()


@env.task
def promote_and_deploy() -> tuple[str, str, bytes]:
    producer = produce()
    consumer, data = consume()
    return producer, consumer, data


@wandb_init(project="keep")
@env.task
def train_and_keep() -> str:
    run = get_wandb_run()
    state = os.path.join(tempfile.mkdtemp(), "state.txt")
    for step in range(STEPS):
        run.log({"loss": LOSS[step]}, step=step)
        if step % EVERY == 0:
            with open(state, "w") as f:
                f.write(str(step))
            aliases = ["keep-me"] if step == 5 else None  # a user alias: never deleted
            save_wandb_checkpoint(
                state, step=step, aliases=aliases, keep_last=2, keep_best=("loss", "min"),
                metadata={"loss": LOSS[step]},
            )  # fmt: skip
    return run.id
