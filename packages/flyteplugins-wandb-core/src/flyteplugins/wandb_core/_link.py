"""The ``Wandb`` link on tracked tasks in the Flyte UI, rendered at submit time with the parent's custom_context."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any, ClassVar

from flyte import Link

from ._config import RUN_ENTITY_KEY, RUN_HOST_KEY, RUN_ID_KEY, RUN_PROJECT_KEY, RankScope, RunMode
from ._state import DEFAULT_HOST
from ._validate import RANK_SCOPES, RUN_MODES, check_choice, check_type, check_url


class Default(str):  # a link field's default: reads as its value (as in 2.12), yet defers to the wandb_config context
    __slots__ = ()


DEFAULT_HOST_FIELD = Default(DEFAULT_HOST)
_AUTO = Default("auto")
_GLOBAL = Default("global")


def given(value: str | None) -> str | None:
    return None if value is None or isinstance(value, Default) else value


@dataclasses.dataclass
class WandbLink(Link):
    """Base of the plugin's Flyte UI links to W&B: fields not given defer to the context; subclasses write `url`."""

    host: str = DEFAULT_HOST_FIELD
    project: str | None = None
    entity: str | None = None
    ICON: ClassVar[str] = "https://wandb.ai/logo.svg"

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if getattr(self, f.name) is None and isinstance(f.default, Default):  # how the decorator says "not given"
                setattr(self, f.name, f.default)
        # A hand-made link (`links=[Wandb(...)]`) is not checked by the decorators: refuse a typo here.
        where = type(self).__name__
        check_url(where, "host", self.host)
        for name in ("project", "entity", "id"):
            check_type(where, name, getattr(self, name, None), str, "a string")

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
        return self.url(dict(context or {}), run_name=run_name, action_name=action_name)

    def url(self, context: dict[str, str], *, run_name: str, action_name: str) -> str:
        raise NotImplementedError

    def place(
        self, context: Mapping[str, str], project_keys: tuple[str, ...], entity_keys: tuple[str, ...]
    ) -> tuple[str, str | None, str | None]:
        """``(host, project, entity)``: each given value, else the first non-empty context key listed."""
        from ._resolve import ui_host

        host, project, entity = (
            given(value) or next((context[key] for key in keys if context.get(key)), None)
            for value, keys in ((self.host, ("wandb_host",)), (self.project, project_keys), (self.entity, entity_keys))
        )
        return ui_host(host, os.environ.get("WANDB_BASE_URL")), project, entity

    @staticmethod
    def project_url(host: str, entity: str | None, project: str | None, *path: str) -> str:
        return "/".join((host, entity, project, *path)) if project and entity else host


@dataclasses.dataclass
class Wandb(WandbLink):
    """Link to the W&B run of a tracked task: ``{host}/{entity}/{project}/runs/{id}``.

    ``@wandb_init`` adds one; construct it yourself only for an untracked task. A field not given reads as
    in 2.12 (``host="https://wandb.ai"``, ``run_mode="auto"``, ...) but defers to the ``wandb_config``
    context (the host then to ``WANDB_BASE_URL``, then W&B cloud).

    Args:
        host: W&B UI host (W&B cloud or a self-hosted server).
        run_mode: The task's run mode; decides whether the link points at the parent's run.
        rank_scope: The task's rank scope (distributed tasks).
        id: An explicit run id.
        name: The link's label in the Flyte UI.

    Raises:
        WandbConfigError: A field given has the wrong type, ``run_mode``/``rank_scope`` is not one of
            the allowed values, or ``host`` does not start with ``http://`` or ``https://``.
    """

    run_mode: RunMode = _AUTO  # type: ignore[assignment]
    rank_scope: RankScope = _GLOBAL  # type: ignore[assignment]
    id: str | None = None
    name: str = "Weights & Biases"
    icon_uri: str = WandbLink.ICON
    _is_distributed: bool = False  # these four are set by @wandb_init
    _worker_index: int | None = None
    _mode: str | None = None
    _env_mode: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("run_mode", self.run_mode, RUN_MODES)
        check_choice("rank_scope", self.rank_scope, RANK_SCOPES)
        if self._mode == "offline" and self.name == "Weights & Biases":
            self.name = "Weights & Biases (offline)"

    def for_ranks(self, worker_index: int | None = None, *, name: str | None = None) -> Wandb:
        """This link on an Elastic task: to the run (or group) its ranks write, never a parent's."""
        label = self.name if name is None else name
        return dataclasses.replace(self, name=label, _is_distributed=True, _worker_index=worker_index)

    def url(self, context: dict[str, str], *, run_name: str, action_name: str) -> str:
        from ._resolve import derive_run_id, run_id_with_suffix, ui_host

        if (kept := offline_location(self._mode or context.get("wandb_mode") or self._env_mode, run_name)) is not None:
            return kept
        host, wb_project, wb_entity = self.place(context, ("wandb_project",), ("wandb_entity",))
        own_id = self.id or context.get("wandb_id") or derive_run_id(run_name, action_name)
        run_mode = given(self.run_mode) or context.get("wandb_run_mode") or "auto"
        if not wb_project and context.get(RUN_PROJECT_KEY):
            wb_project = context[RUN_PROJECT_KEY]
            wb_entity = wb_entity or context.get(RUN_ENTITY_KEY) or None
        if self._is_distributed:
            rank_scope = given(self.rank_scope) or context.get("wandb_rank_scope") or "global"
            worker_scoped = self._worker_index is not None and rank_scope == "worker"
            suffix = f"-worker-{self._worker_index}" if worker_scoped else ""
            if run_mode == "new":  # the ranks' runs are grouped; group names are not length-capped ids
                return self.project_url(host, wb_entity, wb_project, "groups", f"{own_id}{suffix}")
            return self.project_url(host, wb_entity, wb_project, "runs", run_id_with_suffix(own_id, suffix))
        if run_mode in ("auto", "shared") and context.get(RUN_ID_KEY):  # the ancestor's run, maybe in another project
            host = ui_host(context[RUN_HOST_KEY], None) if context.get(RUN_HOST_KEY) else host
            wb_project = context.get(RUN_PROJECT_KEY) or wb_project
            wb_entity = context.get(RUN_ENTITY_KEY) or wb_entity
            return self.project_url(host, wb_entity, wb_project, "runs", context[RUN_ID_KEY])
        if run_mode == "shared":
            return self.project_url(host, wb_entity, wb_project)
        return self.project_url(host, wb_entity, wb_project, "runs", own_id)


def offline_location(mode: str | None, run_name: str) -> str | None:
    """``<store root>/wandb-offline/<flyte run>/`` for a run known at submit to be offline; else None."""
    if mode != "offline" or not run_name or "{{" in run_name:
        return None
    from ._persist import location, run_prefix

    where = location()  # the submitting action's bucket is the cluster's raw-data store
    return f"{run_prefix(where.root, run_name)}/" if where is not None else None
