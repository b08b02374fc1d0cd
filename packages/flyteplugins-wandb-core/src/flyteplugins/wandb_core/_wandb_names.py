"""``wandb.init`` arguments and ``wandb.Settings`` fields per wandb line (scripts/record_wandb_names.py), for checks."""

import functools
import inspect
import re
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

# Value kinds of wandb.Settings fields, as `_validate.setting_fits` judges them.
KINDS: Mapping[str, str] = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "True or False",
    "strs": "a list of strings",
    "ints": "a list of integers",
    "strmap": "a dict of strings to strings",
    "any": "any value",
}


def _by_kind(text: str) -> dict[str, list[tuple[str, str, str]]]:
    """Each block's words ``name[since-until]`` as ``(name, since, until)``; a bound left out reads ``""``."""
    parts = re.split(r"(\w+):", text)
    blocks = zip(parts[1::2], parts[2::2], strict=True)
    return {kind: re.findall(r"(\w+)(?:\[([\d.]*)-([\d.]*)\])?", words) for kind, words in blocks}


# fmt: off
# BEGIN RECORDED
RECORDED_RELEASES = (
    "0.19.11", "0.20.1", "0.21.4", "0.22.3", "0.23.1", "0.24.2", "0.25.1", "0.26.1", "0.27.2", "0.28.2", "0.29.0",
    "0.30.0", "0.31.0",
)
"""The release each recorded line was read from."""

TABLE = _by_kind(
    """
    init: allow_val_change anonymous config config_exclude_keys config_include_keys dir entity force fork_from group
        id job_type mode monitor_gym name notes project reinit resume resume_from save_code settings
        sync_tensorboard tags tensorboard
    any: anonymous console fork_from job_source mode reinit resume resume_from stop_fn[0.26-]
        x_stats_open_metrics_filters
    bool: allow_media_symlink[0.26-] allow_offline_artifacts allow_val_change console_multipart disable_code
        disable_git disable_git_fork_point[0.26-] disable_job_creation finish_timeout_raises[0.27-] force
        insecure_disable_ssl label_disable launch quiet relogin resumed sagemaker_disable save_code show_colors
        show_emoji show_errors show_info show_warnings silent stop_on_fatal_error[0.27-] strict symlink
        sync_tensorboard table_raise_on_max_row_limit_exceeded use_dot_wandb[0.23-] x_cli_only_mode
        x_disable_machine_info x_disable_meta x_disable_service[-0.19] x_disable_setproctitle[-0.20] x_disable_stats
        x_disable_viewer x_file_stream_no_gzip[0.28-] x_flow_control_custom x_flow_control_disabled x_primary
        x_require_legacy_service[-0.20] x_save_requirements x_server_side_derived_summary
        x_server_side_expand_glob_metrics[-0.30] x_skip_transaction_log[0.20-] x_stats_no_cgroup[0.27-]
        x_stats_self_usage[0.31-] x_stats_track_process_tree[0.21-] x_sync x_update_finish_state
    float: finish_timeout[0.27-] init_timeout login_timeout x_file_stream_retry_wait_max_seconds
        x_file_stream_retry_wait_min_seconds x_file_stream_timeout_seconds x_file_stream_transmit_interval
        x_file_transfer_retry_wait_max_seconds x_file_transfer_retry_wait_min_seconds
        x_file_transfer_timeout_seconds x_graphql_retry_wait_max_seconds x_graphql_retry_wait_min_seconds
        x_graphql_timeout_seconds x_internal_check_process x_service_wait x_start_time x_stats_sampling_interval
        x_transaction_log_flush_interval[0.31-]
    int: console_chunk_max_bytes[0.22-] console_chunk_max_seconds[0.22-] heartbeat_seconds
        max_end_of_run_history_metrics[0.21-] max_end_of_run_summary_metrics[0.21-] summary_timeout summary_warnings
        x_file_stream_max_bytes x_file_stream_max_line_bytes x_file_stream_retry_max x_file_transfer_retry_max
        x_graphql_retry_max x_live_policy_rate_limit x_live_policy_wait_time x_log_level x_network_buffer
        x_stats_buffer_size x_stats_cpu_count[0.21-] x_stats_cpu_logical_count[0.21-] x_stats_gpu_count[0.21-]
        x_stats_pid
    ints: x_stats_gpu_device_ids
    str: api_key app_url_override[0.24-] base_url code_dir credentials_file docker email entity git_commit
        git_remote git_remote_url git_root host http_proxy https_proxy identity_token_file job_name
        launch_config_path notebook_name organization program program_abspath program_relpath project root_dir
        run_group run_id run_job_type run_name run_notes settings_system start_method[-0.28] sweep_id
        sweep_param_path username x_executable x_files_dir x_history_value_encoding[0.31-] x_jupyter_name
        x_jupyter_path x_jupyter_root x_label x_runqueue_item_id x_service_transport
        x_stats_coreweave_metadata_base_url[0.20-] x_stats_coreweave_metadata_endpoint[0.20-] x_stats_dcgm_exporter
        x_stats_gpu_type[0.21-] x_stats_neuron_monitor_config_path x_sync_dir_suffix[0.22-]
    strmap: azure_account_url_to_access_key capture_loggers[0.27-] x_extra_http_headers x_proxies
        x_stats_open_metrics_endpoints x_stats_open_metrics_http_headers
    strs: config_paths ignore_globs run_tags x_stats_disk_paths
    """
)
# END RECORDED
# fmt: on


class WandbNames(NamedTuple):  # what one wandb line accepts: wandb.init arguments, settings field -> kind
    release: str
    init_kwargs: frozenset[str]
    settings: dict[str, str]


def _line(text: str) -> tuple[int, int]:
    major, minor = (int(p) for p in re.findall(r"\d+", text)[:2])
    return major, minor


def _present(words: Iterable[tuple[str, str, str]], line: tuple[int, int]) -> list[str]:
    return [name for name, lo, hi in words if (not lo or _line(lo) <= line) and (not hi or line <= _line(hi))]


def recorded(release: str) -> WandbNames | None:
    line = _line(release)
    if line not in {_line(r) for r in RECORDED_RELEASES}:
        return None
    settings = {name: kind for kind, words in TABLE.items() if kind != "init" for name in _present(words, line)}
    return WandbNames(release, frozenset(_present(TABLE["init"], line)), settings)


@functools.lru_cache(maxsize=1)
def installed_release() -> str | None:  # from wandb's metadata (no wandb import)
    from importlib import metadata  # on first use: it costs a noticeable part of importing the plugin

    try:
        return metadata.version("wandb")
    except metadata.PackageNotFoundError:
        return None


def for_early_checks() -> WandbNames | None:  # the installed wandb's recorded line, or None; without wandb, the newest
    return recorded(installed_release() or RECORDED_RELEASES[-1])


def kind_of(annotation: Any) -> str:  # the KINDS key of a wandb.Settings field's annotation (Optional taken off)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin is typing.Union or type(annotation).__name__ == "UnionType":
        return kind_of(args[0]) if len(args) == 1 else "any"
    if annotation in (str, int, float, bool):
        return str(annotation.__name__)
    if origin in (list, tuple, set, frozenset, Sequence):
        return {frozenset({str}): "strs", frozenset({int}): "ints"}.get(frozenset(args) - {Ellipsis}, "any")
    return "strmap" if origin in (dict, Mapping) and args == [str, str] else "any"


@functools.lru_cache(maxsize=1)
def read_installed(wandb: Any) -> WandbNames:  # the names the imported wandb module itself accepts
    return WandbNames(
        str(getattr(wandb, "__version__", "?")),
        frozenset(inspect.signature(wandb.init).parameters),
        {name: kind_of(field.annotation) for name, field in wandb.Settings.model_fields.items()},
    )
