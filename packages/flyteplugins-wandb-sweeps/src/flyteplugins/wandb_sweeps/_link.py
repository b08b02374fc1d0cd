"""``WandbSweep``: the Flyte UI link of a sweep task and of its agent tasks."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from flyte import Link

from flyteplugins.wandb_core.ext import DEFAULT_HOST, WANDB_ICON, Default, fill_defaults, given, ui_host

from ._config import SWEEP_ENTITY_KEY, SWEEP_ID_KEY, SWEEP_MODE_KEY, SWEEP_PROJECT_KEY

_CLOUD = Default(DEFAULT_HOST)  # reads as W&B cloud; a host nobody gave defers to the context's


@dataclass
class WandbSweep(Link):
    """Link to a W&B sweep: ``{host}/{entity}/{project}/sweeps/{id}``.

    ``@wandb_sweep`` adds one to its task and the agent tasks carry one too. The sweep id comes from
    ``id`` or from the ``_wandb_sweep_id`` key that the sweep task hands to its children; the sweep
    task's own link (computed before the sweep exists) points at the project's sweeps page.
    Offline sweeps link to the W&B group their trials are uploaded into by ``wandb sync``.

    Args:
        host: W&B UI host; reads ``"https://wandb.ai"`` when not given, and then falls back to
            ``wandb_config(host=)``, ``WANDB_BASE_URL``, then W&B cloud. A given host wins over the
            context's.
        project: W&B project; falls back to ``wandb_sweep_config``, then ``wandb_config``.
        entity: W&B entity; same fallbacks as ``project``.
        id: A known sweep id.
        name: The link's label in the Flyte UI.
    """

    host: str = _CLOUD
    project: str | None = None
    entity: str | None = None
    id: str | None = None
    name: str = "Weights & Biases Sweep"
    icon_uri: str = WANDB_ICON

    def __post_init__(self) -> None:
        fill_defaults(self, {"host": DEFAULT_HOST})

    def get_link(
        self,
        run_name: str,
        project: str,
        domain: str,
        context: dict[str, str],
        parent_action_name: str,
        action_name: str,
        pod_name: str,
        **kwargs: Any,
    ) -> str:
        context = dict(context or {})
        host = ui_host(
            given(self.host) or context.get("wandb_host") or None, os.environ.get("WANDB_BASE_URL")
        )
        wb_project = (
            self.project
            or context.get(SWEEP_PROJECT_KEY)
            or context.get("wandb_sweep_project")
            or context.get("wandb_project")
        )
        wb_entity = (
            self.entity
            or context.get(SWEEP_ENTITY_KEY)
            or context.get("wandb_sweep_entity")
            or context.get("wandb_entity")
        )
        sweep_id = self.id or context.get(SWEEP_ID_KEY) or None
        if not wb_project or not wb_entity:
            # Without both there is no stable URL; the host is the most useful place to land.
            return host
        base = f"{host}/{wb_entity}/{wb_project}"
        if not sweep_id:
            return f"{base}/sweeps"
        if context.get(SWEEP_MODE_KEY) in ("offline", "disabled"):
            return f"{base}/groups/{sweep_id}"
        return f"{base}/sweeps/{sweep_id}"
