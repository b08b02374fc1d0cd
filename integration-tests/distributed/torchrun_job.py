"""Launch a real multi-node torchrun job on localhost: two agents (two "nodes") with c10d rendezvous.

Used by the distributed integration tests and by ``benchmarks/bench_distributed.py``. Each agent runs
``python -m torch.distributed.run`` with the interpreter given (default: this one), so the job sees
exactly the packages of that environment.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WORKER = Path(__file__).with_name("dist_worker.py")

_WANDB_ENV = (
    "WANDB_API_KEY",
    "WANDB_MODE",
    "WANDB_BASE_URL",
    "WANDB_PROJECT",
    "WANDB_ENTITY",
    "WANDB_RUN_ID",
    "WANDB_SWEEP_ID",
    "WANDB_RESUME",
    "WANDB_RUN_GROUP",
    "WANDB_SERVICE",
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
    "GROUP_RANK",
    "GROUP_WORLD_SIZE",
    "MASTER_ADDR",
    "MASTER_PORT",
    "TORCHELASTIC_RUN_ID",
)


@dataclass
class Job:
    """What a finished torchrun job left behind."""

    returncodes: list[int]
    wall: float
    logs: list[str]
    reports: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)  # (rank, attempt) -> report

    def entries(self, mode: str, attempt: int | None = None) -> dict[int, dict[str, Any]]:
        """rank -> this rank's entry for ``mode`` (in the last attempt unless ``attempt`` is given)."""
        attempts = {a for _, a in self.reports}
        want = max(attempts) if attempt is None else attempt
        out = {}
        for (rank, a), report in self.reports.items():
            if a != want:
                continue
            for entry in report["entries"]:
                if entry["mode"] == mode:
                    out[rank] = entry
        return out

    def log_tail(self, chars: int = 4000) -> str:
        return "\n".join(f"--- agent {i} ---\n{log[-chars:]}" for i, log in enumerate(self.logs))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(workdir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without W&B/torchrun state, with W&B files kept in ``workdir``."""
    env = {k: v for k, v in os.environ.items() if k not in _WANDB_ENV and not k.startswith("PYTEST_")}
    env.update(
        HOME=str(workdir),
        WANDB_DIR=str(workdir),
        WANDB_CONFIG_DIR=str(workdir / ".config" / "wandb"),
        WANDB_CACHE_DIR=str(workdir / ".cache" / "wandb"),
        WANDB_DISABLE_GIT="true",
        WANDB_CONSOLE="off",
        WANDB_SILENT="true",
        OMP_NUM_THREADS="1",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra or {})
    return env


def run_job(
    workdir: Path,
    modes: str,
    *,
    prefix: str = "dist",
    nnodes: int = 2,
    nproc: int = 2,
    worker_args: tuple[str, ...] = (),
    max_restarts: int = 0,
    timeout: float = 300,
    python: str | None = None,
    env: dict[str, str] | None = None,
    expect_success: bool = False,
) -> Job:
    """Run ``dist_worker.py`` under ``nnodes`` torchrun agents of ``nproc`` workers each, in ``workdir``.

    With ``expect_success``, a job that failed because gloo's TCP pairing between the two local
    agents dropped ("Connection closed by peer", a known loopback flake on loaded machines) is
    launched once more in a fresh ``workdir`` (the dropped attempt is kept as ``<workdir>-dropped``).
    Jobs that are meant to fail are never relaunched, so their failures stay theirs.

    Raises:
        TimeoutError: The job did not end within ``timeout`` seconds (a hang); agents are killed.
    """
    job = _launch(workdir, modes, prefix, nnodes, nproc, worker_args, max_restarts, timeout, python, env)
    if expect_success and any(job.returncodes) and "Connection closed by peer" in "\n".join(job.logs):
        workdir.rename(workdir.with_name(workdir.name + "-dropped"))
        job = _launch(workdir, modes, prefix, nnodes, nproc, worker_args, max_restarts, timeout, python, env)
    return job


def _launch(
    workdir: Path,
    modes: str,
    prefix: str,
    nnodes: int,
    nproc: int,
    worker_args: tuple[str, ...],
    max_restarts: int,
    timeout: float,
    python: str | None,
    env: dict[str, str] | None,
) -> Job:
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / "reports"
    port = free_port()
    cmd = [
        python or sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nnodes={nnodes}",
        f"--nproc-per-node={nproc}",
        "--rdzv-backend=c10d",
        f"--rdzv-endpoint=127.0.0.1:{port}",
        f"--rdzv-id=job-{port}",
        f"--max-restarts={max_restarts}",
        "--monitor-interval=0.5",
        str(WORKER),
        "--out",
        str(out),
        "--modes",
        modes,
        "--prefix",
        prefix,
        *worker_args,
    ]
    job_env = env if env is not None else clean_env(workdir)
    log_paths = [workdir / f"agent-{i}.log" for i in range(nnodes)]
    start = time.perf_counter()
    procs = []
    for path in log_paths:
        with path.open("w") as log:
            procs.append(
                subprocess.Popen(
                    cmd, cwd=workdir, env=job_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            )
    deadline = start + timeout
    try:
        for proc in procs:
            proc.wait(timeout=max(deadline - time.perf_counter(), 0.1))
    except subprocess.TimeoutExpired:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        logs = [p.read_text(errors="replace") for p in log_paths]
        tail = "\n".join(log[-3000:] for log in logs)
        raise TimeoutError(f"torchrun job did not finish within {timeout:.0f}s (hang?):\n{tail}") from None
    wall = time.perf_counter() - start
    job = Job(
        returncodes=[p.returncode for p in procs], wall=wall, logs=[p.read_text(errors="replace") for p in log_paths]
    )
    for path in sorted(out.glob("rank-*-attempt-*.json")):
        report = json.loads(path.read_text())
        job.reports[(report["rank"], report["attempt"])] = report
    return job
