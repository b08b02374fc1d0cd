"""Which wandb releases' protocol this server speaks, and what a client outside that range is told.

The server models the GraphQL root fields and HTTP routes the SDK used from ``OLDEST_WANDB`` to
``NEWEST_WANDB`` (``nox -s matrix`` runs the package's tests on both). A client outside the range
gets one warning on the ``wandb_loopback`` logger when it first connects. A client that asks for
something else gets an error response naming the operation and the supported range, and a warning
on the ``wandb_loopback`` logger, instead of a silent ``null`` it would misread.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

OLDEST_WANDB = "0.28.2"
NEWEST_WANDB = "0.31.0"
SUPPORTED_WANDB = f"wandb {OLDEST_WANDB} to {NEWEST_WANDB}"

log = logging.getLogger("wandb_loopback")

# The public Api's User-Agent carries the SDK version ("W&B Public Client 0.31.0"); wandb-core sends
# a bare "wandb-core", so the server also reads `_wandb.cli_version` from the runs it stores.
_VERSION = re.compile(r"(?:wandb[-\w]*/|W&B \w+ Client\s+|wandb\s+)(\d+\.\d+\.\d+\S*)", re.IGNORECASE)


def client_version(user_agent: str | None) -> str | None:
    """The wandb version a request's ``User-Agent`` names, or None when it names none."""
    match = _VERSION.search(user_agent or "")
    return match.group(1) if match else None


def _release(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def is_supported(version: str) -> bool:
    """Whether ``version`` lies in the range whose protocol the server speaks."""
    return _release(OLDEST_WANDB) <= _release(version) <= _release(NEWEST_WANDB)


def warn_if_unsupported(version: str) -> None:
    """Log once per client version outside the supported range: the first hint when a test breaks."""
    if version in _warned or is_supported(version):
        return
    _warned.add(version)
    side = "older" if _release(version) < _release(OLDEST_WANDB) else "newer"
    log.warning(
        "wandb %s is talking to wandb_loopback, which speaks the protocol of %s (this client is %s); "
        "operations it does not model are answered with errors",
        version,
        SUPPORTED_WANDB,
        side,
    )


_warned: set[str] = set()


def protocol_gap(
    what: str, fields: Iterable[str] = (), user_agent: str | None = None, version: str | None = None
) -> str:
    """Log and return the message for a request this server does not model.

    Args:
        what: The operation, e.g. ``"query RunInfo"`` or ``"POST /files/x"``.
        fields: The root fields it asked for that the server does not know.
        user_agent: The request's ``User-Agent`` (to name the client's wandb version).
        version: The client version seen last, for clients whose ``User-Agent`` names none.
    """
    missing = sorted(fields)
    version = client_version(user_agent) or version
    client = f"wandb {version}" if version else "this wandb client"
    detail = f" (unknown fields: {', '.join(missing)})" if missing else ""
    message = (
        f"wandb_loopback does not model {what}{detail}, sent by {client}; it speaks the protocol of {SUPPORTED_WANDB}"
    )
    log.warning("%s", message)
    return message
