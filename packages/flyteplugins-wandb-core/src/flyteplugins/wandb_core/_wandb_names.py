"""The names wandb accepts, recorded from the wandb SDK so decoration never has to import wandb.

Importing wandb takes seconds; ``@wandb_init`` runs at module import, so the checks that must happen
there read these recorded lists instead. ``tests/test_validate_inputs.py`` compares them with the
installed wandb (``inspect.signature(wandb.init)`` and ``wandb.Settings.model_fields``), so they
cannot drift unnoticed when wandb changes.
"""

from __future__ import annotations

import functools
import re


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


RECORDED_VERSION = "0.31.0"
"""The wandb release these lists were read from."""

INIT_KWARGS = _words(
    """
    allow_val_change anonymous config config_exclude_keys config_include_keys dir entity force
    fork_from group id job_type mode monitor_gym name notes project reinit resume resume_from
    save_code settings sync_tensorboard tags tensorboard
    """
)
"""Keyword arguments of ``wandb.init``."""

SETTINGS_FIELDS = _words(
    """
    allow_media_symlink allow_offline_artifacts allow_val_change anonymous api_key app_url_override
    azure_account_url_to_access_key base_url capture_loggers code_dir config_paths console
    console_chunk_max_bytes console_chunk_max_seconds console_multipart credentials_file disable_code
    disable_git disable_git_fork_point disable_job_creation docker email entity finish_timeout
    finish_timeout_raises force fork_from git_commit git_remote git_remote_url git_root
    heartbeat_seconds host http_proxy https_proxy identity_token_file ignore_globs init_timeout
    insecure_disable_ssl job_name job_source label_disable launch launch_config_path login_timeout
    max_end_of_run_history_metrics max_end_of_run_summary_metrics mode notebook_name organization
    program program_abspath program_relpath project quiet reinit relogin resume resume_from resumed
    root_dir run_group run_id run_job_type run_name run_notes run_tags sagemaker_disable save_code
    settings_system show_colors show_emoji show_errors show_info show_warnings silent stop_fn
    stop_on_fatal_error strict summary_timeout summary_warnings sweep_id sweep_param_path symlink
    sync_tensorboard table_raise_on_max_row_limit_exceeded use_dot_wandb username x_cli_only_mode
    x_disable_machine_info x_disable_meta x_disable_stats x_disable_viewer x_executable
    x_extra_http_headers x_file_stream_max_bytes x_file_stream_max_line_bytes x_file_stream_no_gzip
    x_file_stream_retry_max x_file_stream_retry_wait_max_seconds x_file_stream_retry_wait_min_seconds
    x_file_stream_timeout_seconds x_file_stream_transmit_interval x_file_transfer_retry_max
    x_file_transfer_retry_wait_max_seconds x_file_transfer_retry_wait_min_seconds
    x_file_transfer_timeout_seconds x_files_dir x_flow_control_custom x_flow_control_disabled
    x_graphql_retry_max x_graphql_retry_wait_max_seconds x_graphql_retry_wait_min_seconds
    x_graphql_timeout_seconds x_history_value_encoding x_internal_check_process x_jupyter_name
    x_jupyter_path x_jupyter_root x_label x_live_policy_rate_limit x_live_policy_wait_time x_log_level
    x_network_buffer x_primary x_proxies x_runqueue_item_id x_save_requirements
    x_server_side_derived_summary x_service_transport x_service_wait x_skip_transaction_log x_start_time
    x_stats_buffer_size x_stats_coreweave_metadata_base_url x_stats_coreweave_metadata_endpoint
    x_stats_cpu_count x_stats_cpu_logical_count x_stats_dcgm_exporter x_stats_disk_paths
    x_stats_gpu_count x_stats_gpu_device_ids x_stats_gpu_type x_stats_neuron_monitor_config_path
    x_stats_no_cgroup x_stats_open_metrics_endpoints x_stats_open_metrics_filters
    x_stats_open_metrics_http_headers x_stats_pid x_stats_sampling_interval x_stats_self_usage
    x_stats_track_process_tree x_sync x_sync_dir_suffix x_transaction_log_flush_interval
    x_update_finish_state
    """
)
"""Fields of ``wandb.Settings`` (it forbids any other key)."""


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


@functools.lru_cache(maxsize=1)
def lists_are_complete() -> bool:
    """True when the installed wandb is the release line (major.minor) these lists were read from.

    Another wandb may accept names these lists lack (a newer one adds settings, an older one had some
    since removed); then an unknown name is left for wandb to judge rather than refused here.
    ``importlib.metadata`` reads the version without importing wandb.
    """
    from importlib import metadata  # on first use: it costs a noticeable part of importing the plugin

    try:
        installed = metadata.version("wandb")
    except metadata.PackageNotFoundError:
        return True
    return _version_tuple(installed)[:2] == _version_tuple(RECORDED_VERSION)[:2]
