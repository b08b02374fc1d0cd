"""The ``Wandb`` link shown on tracked tasks in the Flyte UI.

Flyte renders links in the submitting process at submit time with the parent's custom_context (and,
remotely, templated ``run_name``/``action_name``), so the run id is derived from the arguments and the
parent's advertised run, never from anything the task itself writes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from flyte import Link

from ._config import RUN_ENTITY_KEY, RUN_HOST_KEY, RUN_ID_KEY, RUN_PROJECT_KEY, RankScope, RunMode
from ._resolve import derive_run_id, ui_host

WANDB_ICON = "https://wandb.ai/logo.svg"


def _pick(explicit: str | None, context: dict[str, str], key: str) -> str | None:
    return explicit or (context.get(key) or None)


@dataclass
class Wandb(Link):
    """Link to the W&B run of a tracked task: ``{host}/{entity}/{project}/runs/{id}``.

    ``@wandb_init`` adds one automatically; construct it yourself only to add a link to an untracked
    task. ``project``/``entity``/``host`` fall back to the ``wandb_config`` context, then
    ``WANDB_BASE_URL``, then W&B cloud.

    Args:
        host: W&B UI host, e.g. ``https://wandb.ai`` or a self-hosted server.
        project: W&B project.
        entity: W&B entity.
        run_mode: The task's run mode; decides whether the link points at the parent's run. None: the
            ``wandb_config`` context's, else ``"auto"``.
        rank_scope: The task's rank scope (distributed tasks); None: the context's, else ``"global"``.
        id: An explicit run id.
        name: The link's label in the Flyte UI.
    """

    host: str | None = None
    project: str | None = None
    entity: str | None = None
    run_mode: RunMode | None = None
    rank_scope: RankScope | None = None
    id: str | None = None
    name: str = "Weights & Biases"
    icon_uri: str = WANDB_ICON
    # Set by @wandb_init for Elastic tasks (derived from the task's plugin_config).
    _is_distributed: bool = False
    _worker_index: int | None = None

    def _base(self, context: dict[str, str]) -> tuple[str, str | None, str | None]:
        host = self.host or context.get("wandb_host") or None
        return (
            ui_host(host, os.environ.get("WANDB_BASE_URL")),
            _pick(self.project, context, "wandb_project"),
            _pick(self.entity, context, "wandb_entity"),
        )

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
        host, wb_project, wb_entity = self._base(context)
        parent_run = context.get(RUN_ID_KEY) or None
        own_id = self.id or context.get("wandb_id") or derive_run_id(run_name, action_name)
        run_mode = self.run_mode or context.get("wandb_run_mode") or "auto"

        if self._is_distributed:
            rank_scope = self.rank_scope or context.get("wandb_rank_scope") or "global"
            worker_scoped = self._worker_index is not None and rank_scope == "worker"
            suffix = f"-worker-{self._worker_index}" if worker_scoped else ""
            kind = "groups" if run_mode == "new" else "runs"
            return self._url(host, wb_entity, wb_project, kind, f"{own_id}{suffix}")

        if run_mode in ("auto", "shared") and parent_run:
            # The child logs into its ancestor's run, which may live in another project.
            host = ui_host(context.get(RUN_HOST_KEY) or None, None) if context.get(RUN_HOST_KEY) else host
            wb_project = context.get(RUN_PROJECT_KEY) or wb_project
            wb_entity = context.get(RUN_ENTITY_KEY) or wb_entity
            return self._url(host, wb_entity, wb_project, "runs", parent_run)
        if run_mode == "shared":
            return self._url(host, wb_entity, wb_project, None, None)
        return self._url(host, wb_entity, wb_project, "runs", own_id)

    @staticmethod
    def _url(host: str, entity: str | None, project: str | None, kind: str | None, ident: str | None) -> str:
        if not project or not entity:
            # Without both, W&B has no stable URL; the host is the most useful place to land.
            return host
        if kind is None or ident is None:
            return f"{host}/{entity}/{project}"
        return f"{host}/{entity}/{project}/{kind}/{ident}"
