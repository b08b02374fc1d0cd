"""Stop wandb's service between tests, with a bound: a service stuck on a dead server must not hang CI."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from pathlib import Path

TEARDOWN_SECONDS = 20.0


def _service_children() -> list[int]:
    """wandb-core processes started by this test process (found through /proc, Linux only)."""
    me = str(os.getpid())
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
            if fields[1] == me and b"wandb-core" in cmdline:
                found.append(int(stat.parent.name))
    return found


def teardown_wandb(seconds: float = TEARDOWN_SECONDS) -> None:
    """``wandb.teardown()``, killing the service if it has not stopped after ``seconds``.

    Older wandb releases (0.19.x) can wait forever for a service whose server went away; the
    data of such a test is already asserted on, so killing the service loses nothing we check.
    """
    wandb = sys.modules.get("wandb")
    if wandb is None:
        return

    def _teardown() -> None:
        with contextlib.suppress(Exception):  # a broken client must not hide the test's own result
            wandb.teardown()

    worker = threading.Thread(target=_teardown, name="wandb-teardown", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        for pid in _service_children():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        worker.join(10)
