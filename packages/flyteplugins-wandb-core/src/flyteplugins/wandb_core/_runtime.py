"""Small facts about the running process that core and the sibling packages read the same way."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from typing import NamedTuple

FAILED_EXIT_CODE = 1  # a run's exit code when its task failed (or its rank was torn down)
OFFLINE_MODES = ("offline", "disabled", "dryrun")  # wandb modes that send nothing to a server
DEFAULT_API_URL = "https://api.wandb.ai"  # where wandb sends API calls when nothing else names a server
DEFAULT_HOST = "https://wandb.ai"  # W&B cloud's UI (links)


def world_size(env: Mapping[str, str] | None = None) -> int:
    """``WORLD_SIZE`` as torchrun sets it; 1 when unset or not an integer (treated as not distributed)."""
    with contextlib.suppress(ValueError):
        return int((os.environ if env is None else env).get("WORLD_SIZE", "1"))
    return 1


def netrc_has_entry(url: str | None) -> bool:  # a ~/.netrc entry exists for url's host (what wandb login writes)
    import netrc
    from urllib.parse import urlparse

    host = urlparse(url or "").hostname
    with contextlib.suppress(netrc.NetrcParseError, OSError):  # no ~/.netrc, or one netrc cannot read
        return bool(host and netrc.netrc().authenticators(host))
    return False


def api_base_url(host: str | None) -> str | None:
    """The wandb API base URL for a UI host (W&B cloud serves the API from another host)."""
    if host is None:
        return None
    host = host.rstrip("/")
    return DEFAULT_API_URL if host in ("https://wandb.ai", "http://wandb.ai") else host


class WandbServer(NamedTuple):  # the API base URL for a host (None: wandb picks); a ~/.netrc login for it
    api_url: str | None
    has_credentials: bool


def wandb_server(host: str | None) -> WandbServer:
    """Where W&B is for the UI host ``host``, and whether ``wandb login`` left credentials for it (for the API
    host, else ``WANDB_BASE_URL``, else W&B cloud); ``WANDB_API_KEY`` is the caller's to read."""
    api_url = api_base_url(host)
    return WandbServer(api_url, netrc_has_entry(api_url or os.environ.get("WANDB_BASE_URL") or DEFAULT_API_URL))
