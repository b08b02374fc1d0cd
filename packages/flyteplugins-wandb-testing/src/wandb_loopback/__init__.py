"""A fake W&B server on 127.0.0.1 for tests: the unmodified wandb SDK logs to it, tests read what it stored.

    from wandb_loopback import LoopbackServer

    with LoopbackServer() as server:          # thread in this process, free port
        os.environ.update(server.env())       # WANDB_BASE_URL + a dummy 40+ character key
        ...                                   # wandb.init / log / finish, wandb.sweep / agent, Api()
        run = server.run("my-run-id")
        assert run.history[-1]["loss"] == 0.1 and run.exit_code == 0

With pytest, the ``wandb_server`` and ``wandb_server_process`` fixtures come with the package (its
``pytest11`` entry point). By hand: ``python -m wandb_loopback --port 8080``. It speaks the protocol
of the wandb releases in ``SUPPORTED_WANDB``; anything else is answered with an error naming the gap.
"""

from .process import LoopbackProcess
from .protocol import NEWEST_WANDB, OLDEST_WANDB, SUPPORTED_WANDB
from .records import AgentRecord
from .server import DUMMY_API_KEY, Fault, LoopbackServer
from .store import DEFAULT_ENTITY, DEFAULT_PROJECT, RunRecord, Store, SweepRecord

__all__ = [
    "DEFAULT_ENTITY",
    "DEFAULT_PROJECT",
    "DUMMY_API_KEY",
    "NEWEST_WANDB",
    "OLDEST_WANDB",
    "SUPPORTED_WANDB",
    "AgentRecord",
    "Fault",
    "LoopbackProcess",
    "LoopbackServer",
    "RunRecord",
    "Store",
    "SweepRecord",
]
