"""``WandbSweep``: the Flyte UI link of a sweep task and of its agent tasks."""

from __future__ import annotations

from dataclasses import dataclass

from flyteplugins.wandb_core.ext import WandbLink

from ._config import SWEEP_ENTITY_KEY, SWEEP_ID_KEY, SWEEP_MODE_KEY, SWEEP_PROJECT_KEY


@dataclass
class WandbSweep(WandbLink):
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

    id: str | None = None
    name: str = "Weights & Biases Sweep"
    icon_uri: str = WandbLink.ICON

    def url(self, context: dict[str, str], *, run_name: str, action_name: str) -> str:
        host, wb_project, wb_entity = self.place(
            context,
            (SWEEP_PROJECT_KEY, "wandb_sweep_project", "wandb_project"),
            (SWEEP_ENTITY_KEY, "wandb_sweep_entity", "wandb_entity"),
        )
        sweep_id = self.id or context.get(SWEEP_ID_KEY) or None
        if not sweep_id:
            return self.project_url(host, wb_entity, wb_project, "sweeps")
        kind = "groups" if context.get(SWEEP_MODE_KEY) in ("offline", "disabled") else "sweeps"
        return self.project_url(host, wb_entity, wb_project, kind, sweep_id)
