"""Make sure a torchrun rank's runs go through core's SIGTERM path when the worker group is stopped.

When one rank fails (or the pod is preempted), the torchrun/Elastic agent stops every other worker
with SIGTERM, whose default action ends the process at once: a run still open there would keep no
exit code and lose whatever the wandb service had not yet flushed. Core's preemption handler
(``flyteplugins.wandb_core.ext.install_sigterm_handler``) already covers every run core opened: it
marks them preempting, finishes them with exit code 143 (flushing everything logged) and chains to
the previous handler. There is one SIGTERM path for ranks and single processes alike; a rank whose
own code raised finishes through its scope instead, with exit code 1, before any signal arrives.

What this module adds is *where* the handler gets installed: Python runs signal handlers in the main
thread only and only the main thread may install them, so the handler is installed when an Elastic
task is decorated in a worker (usually at import, in the main thread) or when a run opens in the main
thread (Flyte's Elastic launcher calls the task there).
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
