"""A W&B server on 127.0.0.1 for tests: the unmodified wandb SDK logs to it, tests read what it stored.

    from wandb_loopback import LoopbackServer

    with LoopbackServer() as server:          # thread in this process, free port
        os.environ.update(server.env())       # WANDB_BASE_URL + a dummy 40+ character key
        ...                                   # wandb.init / log / finish, wandb.sweep / agent, Api()
        run = server.run("my-run-id")
        assert run.history[-1]["loss"] == 0.1 and run.exit_code == 0

Run it by hand with ``python -m wandb_loopback --port 8080`` (from ``integration-tests/``).
Protocol details: ``shared/wandb-protocol-notes.md`` (what wandb 0.31.0 sends and needs back).
"""

from .server import DUMMY_API_KEY, Fault, LoopbackProcess, LoopbackServer
from .store import DEFAULT_ENTITY, DEFAULT_PROJECT, RunRecord, Store, SweepRecord

__all__ = [
    "DEFAULT_ENTITY",
    "DEFAULT_PROJECT",
    "DUMMY_API_KEY",
    "Fault",
    "LoopbackProcess",
    "LoopbackServer",
    "RunRecord",
    "Store",
    "SweepRecord",
]
