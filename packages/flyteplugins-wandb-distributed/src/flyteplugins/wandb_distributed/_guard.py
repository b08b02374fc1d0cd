"""Install core's SIGTERM handler (``ext.install_sigterm_handler``) in a torchrun rank, so runs still open
when the agent stops the worker group are finished with exit code 143 instead of lost.

Only the main thread may install a signal handler, so it is installed when an Elastic task is decorated
in a worker (at import) or when a run opens in the main thread (Flyte's Elastic launcher calls it there).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping

from flyteplugins.wandb_core import WandbConfigError
from flyteplugins.wandb_core.ext import install_sigterm_handler

from ._topology import detect_topology


def _is_torchrun_worker(env: Mapping[str, str]) -> bool:
    try:
        return detect_topology(env) is not None
    except WandbConfigError:  # a launcher's variables we cannot read: the run's own check says so
        return False


def install_guard(env: Mapping[str, str] | None = None) -> bool:
    """Install core's SIGTERM handler in a torchrun worker's main thread. Returns whether it is on."""
    if not _is_torchrun_worker(os.environ if env is None else env):
        return False
    if threading.current_thread() is not threading.main_thread():
        return False  # signal.signal raises anywhere else
    # keep=True: the body may open and close several runs; the handler stays between them.
    return install_sigterm_handler(keep=True)


def on_run_open() -> None:
    """Core's hook: a run opened on this rank (core tracks it already)."""
    install_guard()
