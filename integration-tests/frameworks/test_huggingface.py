"""Hugging Face Trainer(report_to="wandb") and accelerate's W&B tracker inside tracked tasks."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import flyte
import pytest
import torch
from accelerate import Accelerator
from frameworks.fw_common import BARRIERS, regression_data, wait
from transformers import Trainer, TrainingArguments

from flyteplugins.wandb import get_wandb_run, wandb_init
from flyteplugins.wandb.testing import runs_by_id

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

env = flyte.TaskEnvironment(name="fw_huggingface")
HF_STEPS = 8


class TinyRegressor(torch.nn.Module):
    """A model the Trainer accepts: keyword inputs, a dict with ``loss`` out."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"loss": torch.nn.functional.mse_loss(self.layer(x), labels)}


class _Rows(torch.utils.data.Dataset):
    def __init__(self, seed: int) -> None:
        self.data = regression_data(seed)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        x, y = self.data[i]
        return {"x": x, "labels": y}


@wandb_init(run_mode="new")
@env.task
def train_hf(tag: int, barrier: str, out_dir: str) -> str:
    args = TrainingArguments(
        output_dir=f"{out_dir}/hf-{tag}",
        report_to=["wandb"],
        max_steps=HF_STEPS,
        logging_steps=1,
        per_device_train_batch_size=4,
        learning_rate=0.01 * (tag + 1),
        save_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
        seed=tag,
    )
    trainer = Trainer(model=TinyRegressor(), args=args, train_dataset=_Rows(tag))
    wait(barrier)  # both runs open before either callback's setup reads wandb.run
    trainer.train()
    wait(barrier)
    return get_wandb_run().id


@wandb_init
@env.task
async def two_hf(barrier: str, out_dir: str) -> list[str]:
    BARRIERS[barrier] = threading.Barrier(2, timeout=120)
    return list(await asyncio.gather(*(train_hf.aio(i, barrier, out_dir) for i in range(2))))


def _check_hf(runs: list, tag: int) -> None:
    [run] = runs
    rows = [r for r in run.history if "train/loss" in r]
    assert len(rows) == HF_STEPS
    assert run.config["learning_rate"] == pytest.approx(0.01 * (tag + 1))
    assert {"name": "*", "step_metric": "train/global_step"} in run.metrics
    assert any("train_loss" in key for key in run.summary), run.summary
    assert run.exit_code == 0


def test_hf_trainer_alone(wandb_dir: Path, tmp_path: Path) -> None:
    run_id = flyte.with_runcontext(mode="local", name="hf-one").run(train_hf, 0, "", str(tmp_path)).outputs()[0]
    by_id = runs_by_id(wandb_dir)
    assert list(by_id) == [run_id]
    _check_hf(by_id[run_id], 0)


def test_two_hf_trainers_at_once_each_keep_their_run(wandb_dir: Path, tmp_path: Path) -> None:
    ids = flyte.with_runcontext(mode="local", name="hf-two").run(two_hf, "hf", str(tmp_path)).outputs()[0]
    by_id = runs_by_id(wandb_dir)
    assert len(by_id) == 3
    for tag, run_id in enumerate(ids):
        _check_hf(by_id[run_id], tag)


@wandb_init(run_mode="new")
@env.task
def train_accelerate(tag: int) -> str:
    accelerator = Accelerator(log_with="wandb", cpu=True)
    accelerator.init_trackers("their-project", config={"lr": 0.5, "tag": tag})
    for step in range(4):
        accelerator.log({"loss": 1.0 / (step + 1)}, step=step)
    accelerator.end_training()  # the tracker's run.finish(): the task's run stays open
    get_wandb_run().log({"after": 1})
    return get_wandb_run().id


def test_accelerate_tracker_uses_the_task_run(wandb_dir: Path) -> None:
    run_id = flyte.with_runcontext(mode="local", name="acc").run(train_accelerate, 1).outputs()[0]
    [run] = runs_by_id(wandb_dir)[run_id]
    assert run.metric("loss") == pytest.approx([1.0, 0.5, 1 / 3, 0.25])
    assert run.metric("after") == [1]
    assert run.config["lr"] == 0.5 and run.config["tag"] == 1
    assert run.exit_code == 0


@wandb_init(run_mode="new")
@env.task
def train_hf_logging_the_model(out_dir: str) -> str:
    # With run_name set, WandbCallback names the model artifact after the run: model-<run.name>.
    args = TrainingArguments(
        output_dir=f"{out_dir}/hf-model",
        run_name="their-run-name",
        report_to=["wandb"],
        max_steps=2,
        logging_steps=1,
        per_device_train_batch_size=4,
        save_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
    )
    Trainer(model=TinyRegressor(), args=args, train_dataset=_Rows(0)).train()
    return get_wandb_run().id


def test_hf_trainer_logs_its_model_artifact(wandb_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_LOG_MODEL", "end")
    run_id = (
        flyte.with_runcontext(mode="local", name="hf-model").run(train_hf_logging_the_model, str(tmp_path)).outputs()[0]
    )
    [run] = runs_by_id(wandb_dir)[run_id]
    # The architecture at setup, then the trained weights at the end, both in the task's run.
    assert [a["name"] for a in run.artifacts] == [f"model-{run.name}"] * 2
    assert "final_model" in run.artifacts[-1]["aliases"]
    assert "model.safetensors" in run.artifacts[-1]["files"]
    assert run.exit_code == 0
