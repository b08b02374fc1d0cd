"""Small facts about the running process that core and the sibling packages read the same way.

Each lives here once so that a fix (a new torchrun variable, another netrc error) reaches every
reader: the decorator, the run lifecycle, the report tab and the distributed package.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

# The exit code a run is finished with when its task failed (or its rank was torn down).
FAILED_EXIT_CODE = 1

# Where wandb sends API calls when nothing else names a server.
DEFAULT_API_URL = "https://api.wandb.ai"
# W&B cloud's UI (links); here so that the link code needs no resolver at import.
DEFAULT_HOST = "https://wandb.ai"


def world_size(env: Mapping[str, str] | None = None) -> int:
    """``WORLD_SIZE`` as torchrun sets it; 1 when unset or not an integer (treated as not distributed)."""
    raw = (os.environ if env is None else env).get("WORLD_SIZE", "1")
    try:
        return int(raw)
    except ValueError:
        return 1


def netrc_has_entry(url: str | None) -> bool:
    """A ``~/.netrc`` entry exists for ``url``'s host (what ``wandb login`` writes)."""
    import netrc
    from urllib.parse import urlparse

    host = urlparse(url or "").hostname
    if not host:
        return False
    try:
        return bool(netrc.netrc().authenticators(host))
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def has_netrc_credentials(host: str | None) -> bool:
    """Credentials for the W&B server in netrc: ``host``, else ``WANDB_BASE_URL``, else W&B cloud."""
    return netrc_has_entry(host or os.environ.get("WANDB_BASE_URL") or DEFAULT_API_URL)
