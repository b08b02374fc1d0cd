"""``python -m wandb_loopback --port 8080``: serve the W&B protocol on 127.0.0.1 until interrupted.

Point a workflow at it with the two variables it prints, then inspect what it stored at
``http://127.0.0.1:PORT/_loopback/state`` (JSON: runs, history, summary, files, sweeps).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading

from .server import DUMMY_API_KEY, LoopbackServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wandb_loopback", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port; 0 picks a free one (default 8080)")
    parser.add_argument("--entity", default="loopback", help="default entity reported to clients")
    parser.add_argument("--api-key", default=None, help="reject requests without this key (HTTP 401)")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    parser.add_argument("--quiet", action="store_true", help="print only the environment lines")
    args = parser.parse_args(argv)
    # Protocol gaps (a newer wandb asking for something unmodelled) are warnings: show them.
    logging.basicConfig(level=logging.WARNING, format="wandb_loopback: %(message)s", stream=sys.stderr)
    try:
        server = LoopbackServer(
            args.host, args.port, entity=args.entity, api_key=args.api_key, verbose=args.verbose
        ).start()
    except (OSError, ValueError) as exc:
        print(f"wandb_loopback: cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    print(f"WANDB_BASE_URL={server.url}", flush=True)
    print(f"WANDB_API_KEY={args.api_key or DUMMY_API_KEY}", flush=True)
    if not args.quiet:
        print(f"# stored state: {server.url}/_loopback/state  (Ctrl-C to stop)", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
