"""PyTorch Lightning's WandbLogger inside tracked tasks: alone and two at once (real Trainer, CPU)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import flyte
import pytest
import pytorch_lightning as pl
import torch
from frameworks.fw_common import BARRIERS, STEPS, regression_data, wait
from pytorch_lightning.loggers import WandbLogger

from flyteplugins.wandb import get_wandb_run, wandb_init
from flyteplugins.wandb.testing import runs_by_id

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

env = flyte.TaskEnvironment(name="fw_lightning")


class Tiny(pl.LightningModule):
    def __init__(self, lr: float, tag: int) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("train_loss", loss)
        self.log("tag", float(self.hparams.tag))
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


@wandb_init(run_mode="new")
@env.task
def train_lightning(tag: int, barrier: str) -> dict:
    logger = WandbLogger(log_model=False)
    wait(barrier)  # both runs are open before either trainer reads wandb.run
    trainer = pl.Trainer(
        max_epochs=1,
        logger=logger,
        log_every_n_steps=1,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        devices=1,
    )
    loader = torch.utils.data.DataLoader(regression_data(tag), batch_size=4)
    trainer.fit(Tiny(lr=0.01 * (tag + 1), tag=tag), loader)
    wait(barrier)  # both trained while both runs were open
    return {"id": get_wandb_run().id, "experiment": logger.experiment.id}


@wandb_init
@env.task
async def two_trainers(barrier: str) -> list[dict]:
    BARRIERS[barrier] = threading.Barrier(2, timeout=120)
    return list(await asyncio.gather(*(train_lightning.aio(i, barrier) for i in range(2))))


def _check(runs: list, tag: int) -> None:
    [run] = runs
    rows = [r for r in run.history if "train_loss" in r]
    assert len(rows) == STEPS
    assert {r["tag"] for r in rows} == {float(tag)}  # not one row of the sibling's
    assert run.config["lr"] == pytest.approx(0.01 * (tag + 1)) and run.config["tag"] == tag
    assert run.exit_code == 0


def test_lightning_alone(wandb_dir: Path) -> None:
    out = flyte.with_runcontext(mode="local", name="pl-one").run(train_lightning, 0, "").outputs()[0]
    assert out["experiment"] == out["id"]
    by_id = runs_by_id(wandb_dir)
    assert list(by_id) == [out["id"]]
    _check(by_id[out["id"]], 0)


def test_two_lightning_trainers_at_once_each_log_into_their_own_run(wandb_dir: Path) -> None:
    rows = flyte.with_runcontext(mode="local", name="pl-two").run(two_trainers, "pl").outputs()[0]
    by_id = runs_by_id(wandb_dir)
    assert len(by_id) == 3
    for tag, out in enumerate(rows):
        assert out["experiment"] == out["id"]
        _check(by_id[out["id"]], tag)
