"""Tracked tasks on a Flyte cluster, with the W&B API key as a Flyte secret.

Once per project, store the key (you are prompted for the value)::

    flyte create secret wandb_api_key

Then deploy and run (with a Flyte config, e.g. ``.flyte/config.yaml``)::

    python examples/secrets_on_cluster.py

That is all the cluster needs. ``flyte.Secret(key="wandb_api_key", as_env_var="WANDB_API_KEY")`` makes
Flyte inject the key into every pod of the environment as ``WANDB_API_KEY``, which is exactly where the
plugin (and wandb) read it: no ``wandb login`` in the image, no ``~/.netrc``, and never a key in code,
``wandb_config`` or ``@wandb_init`` (Flyte copies ``custom_context`` to every child task and shows it in
its UI, so the plugin refuses secret-like arguments). A pod without the key writes its run offline and
prints the ``wandb sync`` command, instead of failing the task.

The image needs the plugin, with the extras the tasks use: ``flyteplugins-wandb`` for tracking,
``flyteplugins-wandb[distributed]`` (plus ``flyteplugins-pytorch``) for Elastic tasks,
``flyteplugins-wandb[sweeps]`` for sweeps, or ``flyteplugins-wandb[all]``.
"""

from __future__ import annotations

import flyte

from flyteplugins.wandb import get_wandb_run, wandb_config, wandb_init

image = flyte.Image.from_debian_base(name="wandb-on-cluster").with_pip_packages("flyteplugins-wandb")

env = flyte.TaskEnvironment(
    name="wandb_on_cluster", image=image, secrets=[flyte.Secret(key="wandb_api_key", as_env_var="WANDB_API_KEY")]
)


@wandb_init  # run_mode="auto": joins the parent's run from its own pod (W&B shared mode)
@env.task
async def evaluate(epoch: int) -> float:
    accuracy = 1 - 0.5 ** (epoch + 1)
    get_wandb_run().log({"eval/accuracy": accuracy, "epoch": epoch})
    return accuracy


@wandb_init(project="flyte-cluster", config={"optimizer": "sgd"})
@env.task
async def train(epochs: int) -> float:
    run = get_wandb_run()
    loss = 1.0
    for epoch in range(epochs):
        loss /= 2
        run.log({"train/loss": loss, "epoch": epoch})
    return await evaluate(epochs - 1)


if __name__ == "__main__":
    flyte.init_from_config()
    flyte.deploy(env)  # the Flyte UI then launches `train` with the same secret and links
    run = flyte.with_runcontext(custom_context=wandb_config(tags=["cluster"])).run(train, epochs=3)
    print(run.url)
