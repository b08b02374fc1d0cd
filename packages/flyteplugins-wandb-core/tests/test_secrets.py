"""Secrets are refused by value (the live WANDB_API_KEY, anywhere), and by name only for credentials.

Ordinary ML settings that happen to contain "token" or "key" (``pad_token``, ``rng_key``,
``max_tokens``...) are configuration, not secrets: a corpus of real names must pass.
"""

from __future__ import annotations

from typing import Any

import flyte
import pytest

from flyteplugins.wandb_core import WandbConfigError, wandb_config, wandb_init
from flyteplugins.wandb_core._resolve import TaskInfo, merge_settings, resolve_run
from flyteplugins.wandb_core._validate import is_secret_name

KEY = "0123456789abcdef" * 2 + "fakekey0"  # 40 characters, like a W&B key
env = flyte.TaskEnvironment(name="secrets")

# Real configuration names: Hugging Face TrainingArguments and tokenizer fields, generation settings,
# PyTorch Lightning Trainer/hyperparameters, JAX and video pipelines.
CONFIG_CORPUS = str.split(
    """
output_dir overwrite_output_dir do_train do_eval eval_strategy per_device_train_batch_size
per_device_eval_batch_size gradient_accumulation_steps learning_rate weight_decay adam_beta1 adam_beta2
adam_epsilon max_grad_norm num_train_epochs max_steps lr_scheduler_type warmup_ratio warmup_steps
logging_dir logging_steps save_strategy save_steps save_total_limit seed data_seed bf16 fp16 tf32
dataloader_num_workers run_name remove_unused_columns label_names load_best_model_at_end
metric_for_best_model greater_is_better optim report_to push_to_hub hub_model_id hub_strategy hub_token
push_to_hub_token hub_private_repo gradient_checkpointing include_tokens_per_second
include_num_input_tokens_seen average_tokens_across_devices torch_compile neftune_noise_alpha
pad_token eos_token bos_token unk_token sep_token cls_token mask_token pad_token_id eos_token_id
bos_token_id additional_special_tokens model_max_length padding_side truncation_side tokenizer
tokenizer_name tokenizer_class use_fast clean_up_tokenization_spaces add_prefix_space max_tokens
max_new_tokens min_new_tokens top_k top_p temperature num_beams repetition_penalty num_key_value_heads
key_dim kv_channels key_frames keyframe_interval rng_key prng_key dropout_rng num_keys sort_key
max_epochs min_epochs accumulate_grad_batches gradient_clip_val gradient_clip_algorithm precision
accelerator devices strategy num_nodes check_val_every_n_epoch val_check_interval log_every_n_steps
enable_checkpointing deterministic benchmark batch_size hidden_dim num_layers dropout monitor_key
"""
)


def test_corpus_is_real_and_large() -> None:
    assert len(CONFIG_CORPUS) > 100 and len(set(CONFIG_CORPUS)) == len(CONFIG_CORPUS)


@pytest.mark.parametrize("name", CONFIG_CORPUS)
def test_config_names_are_not_secret_names(name: str) -> None:
    assert not is_secret_name(name)


def test_a_whole_corpus_config_passes_with_a_key_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", KEY)
    config: dict[str, Any] = {name: f"<{name}>" for name in CONFIG_CORPUS}
    config["nested"] = {"tokenizer": {"pad_token": "<pad>", "special": {"eos_token": "</s>"}}}
    cfg = wandb_config(config=config)
    assert cfg.config == config

    @wandb_init(config=config)
    @env.task
    async def train() -> None: ...


def test_pad_token_is_an_ordinary_setting() -> None:
    assert wandb_config(config={"pad_token": "<pad>"}).config == {"pad_token": "<pad>"}


@pytest.mark.parametrize(
    "name",
    ["api_key", "apiKey", "WANDB_API_KEY", "access_token", "client_secret", "password", "token", "key",
     "aws_secret_access_key", "private_key", "secret", "credentials", "hf_access_token"],
)  # fmt: skip
def test_credential_arguments_are_refused_by_name(name: str) -> None:
    with pytest.raises(WandbConfigError, match=rf"secret-like argument '{name}'"):
        wandb_config(**{name: "x"})
    with pytest.raises(WandbConfigError, match=rf"secret-like argument '{name}'"):
        wandb_init(**{name: "x"})


# Every place a value travels to wandb.init (and through Flyte's custom_context).
PLACES: list[tuple[str, dict[str, Any]]] = [
    ("config", {"config": {"wandb": KEY}}),
    ("config deep", {"config": {"a": {"b": [1, {"c": KEY}]}}}),
    ("config inside a string", {"config": {"cmd": f"train --key={KEY} --lr 1"}}),
    ("config key", {"config": {KEY: 1}}),
    ("tags", {"tags": ["ok", KEY]}),
    ("tags inside", {"tags": [f"k-{KEY}"]}),
    ("notes", {"notes": f"run with {KEY}"}),
    ("name", {"name": KEY}),
    ("group", {"group": KEY}),
    ("job_type", {"job_type": KEY}),
    ("id", {"id": KEY}),
    ("project", {"project": KEY}),
    ("entity", {"entity": KEY}),
    ("host", {"host": f"https://api:{KEY}@wandb.example.com"}),
    ("settings", {"settings": {"run_name": KEY}}),
    ("settings headers", {"settings": {"x_extra_http_headers": {"Authorization": f"Bearer {KEY}"}}}),
    ("other wandb.init argument", {"dir": f"/tmp/{KEY}"}),
]


@pytest.mark.parametrize(("place", "kwargs"), PLACES, ids=[p for p, _ in PLACES])
def test_the_live_key_is_refused_wherever_it_would_travel(
    place: str, kwargs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WANDB_API_KEY", KEY)
    with pytest.raises(WandbConfigError, match=r"contains the W&B API key") as info:
        wandb_config(**kwargs)
    assert KEY not in str(info.value) and KEY not in repr(info.value.args)
    with pytest.raises(WandbConfigError, match=r"contains the W&B API key") as info:
        wandb_init(**kwargs)
    assert KEY not in str(info.value)


def test_wandb_settings_object_with_the_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import wandb

    monkeypatch.setenv("WANDB_API_KEY", KEY)
    with pytest.raises(WandbConfigError, match=r"settings\['api_key'\] contains the W&B API key") as info:
        wandb_init(settings=wandb.Settings(api_key=KEY))
    assert KEY not in str(info.value)
    with pytest.raises(WandbConfigError, match=r"contains the W&B API key") as info:
        wandb_config(settings=wandb.Settings(run_group=KEY))
    assert KEY not in str(info.value)


def test_key_as_settings_string_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", KEY)
    for call in (lambda: wandb_config(settings=KEY), lambda: wandb_init(settings=KEY), lambda: wandb_init(KEY)):
        with pytest.raises(WandbConfigError) as info:
            call()
        assert KEY not in str(info.value)


def test_a_short_key_only_matches_whole_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", "abc")
    wandb_config(config={"alphabet": "abcdef"})  # "abc" inside ordinary text is no leak
    with pytest.raises(WandbConfigError, match="contains the W&B API key"):
        wandb_config(config={"k": "abc"})


def test_the_key_reaching_a_task_by_another_path_is_refused_at_run_time() -> None:
    # A custom_context written by hand (or by another tool) never went through wandb_config.
    context = {"tags": ["ok", KEY], "config": {"nested": [f"x{KEY}"]}}
    task = TaskInfo(in_task=True, run_name="r", action_name="a0")
    with pytest.raises(WandbConfigError, match=r"contains the W&B API key") as info:
        resolve_run(merge_settings({}, context), task, env={"WANDB_API_KEY": KEY})
    assert KEY not in str(info.value)
    # Without the key in the environment nothing is refused (it is not known to be a key).
    resolve_run(merge_settings({}, context), task, env={})
