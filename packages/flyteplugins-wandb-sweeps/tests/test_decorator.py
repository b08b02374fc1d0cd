"""@wandb_sweep decoration-time checks (no task is run)."""

from __future__ import annotations

import flyte
import pytest

from flyteplugins.wandb_core import WandbConfigError
from flyteplugins.wandb_sweeps import WandbSweep, wandb_sweep

env = flyte.TaskEnvironment(name="sweep-unit")


def test_must_decorate_a_task():
    def plain() -> None: ...

    with pytest.raises(WandbConfigError, match=r"decorates a Flyte task and must be the outermost decorator"):
        wandb_sweep(plain)


def test_adds_a_sweep_link_and_keeps_the_task():
    async def body() -> None: ...

    task = env.task(body)
    out = wandb_sweep(project="p", entity="e")(task)
    assert out is task
    assert [type(link) for link in task.links] == [WandbSweep]
    assert task.override(retries=1).func is task.func  # the wrapped body survives override()


def test_applied_twice_fails():
    async def body2() -> None: ...

    task = wandb_sweep(env.task(body2))
    with pytest.raises(WandbConfigError, match="applied twice"):
        wandb_sweep(task)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"mode": "cloud"}, r"mode='cloud' is not valid"), ({"method": "annealing"}, r"method='annealing'")],
)
def test_bad_arguments_fail_at_decoration(kwargs, message):
    with pytest.raises(WandbConfigError, match=message):
        wandb_sweep(**kwargs)
