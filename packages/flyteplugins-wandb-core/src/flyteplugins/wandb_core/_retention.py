"""Checkpoint retention: which versions of a run's checkpoint artifact to keep (pure policy + arguments).

``save_wandb_checkpoint(..., keep_last=N, keep_best=("loss", "min"))`` keeps the N newest checkpoints
(by step), the best one by the metric, and always the newest (what `restore_wandb_checkpoint` returns
on the next attempt) and every protected version: one with an alias the user gave (``best``,
``production``...; not the ``latest`` / ``step-<N>`` aliases the helper manages) or linked into a
registry. Everything else is deleted. Kept free of wandb imports, so it is unit-tested as pure logic.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from ._validate import WandbConfigError

Goal = Literal["min", "max"]
_GOALS = ("min", "max")
# The aliases save_wandb_checkpoint sets itself: a version carrying only these is not "protected".
_MANAGED_ALIAS_RE = re.compile(r"^(latest|step-\d+|v\d+)$")


@dataclass(frozen=True)
class Retention:
    """A checked retention policy; inactive (keep everything) when both are None.

    ``keep_last=None`` with ``best`` set keeps the best and the newest checkpoint only.
    """

    keep_last: int | None = None
    best: tuple[str, Goal] | None = None

    @property
    def active(self) -> bool:
        return self.keep_last is not None or self.best is not None


@dataclass(frozen=True)
class Version:
    """One stored checkpoint as the policy sees it."""

    key: Any  # what the caller deletes by (an artifact, a directory)
    step: int
    value: float | None = None  # the keep_best metric, when recorded
    protected: bool = False


def check_retention(where: str, keep_last: Any, keep_best: Any) -> Retention:
    """Validate ``keep_last`` / ``keep_best`` early, naming the argument and what is allowed."""
    if keep_last is not None and (
        isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 1
    ):
        raise WandbConfigError(
            f"{where}: keep_last must be an int >= 1 (the newest checkpoint is always kept) or None, "
            f"got {keep_last!r}."
        )
    best: tuple[str, Goal] | None = None
    if keep_best is not None:
        if (
            not isinstance(keep_best, (tuple, list))
            or len(keep_best) != 2
            or not isinstance(keep_best[0], str)
            or not keep_best[0]
            or keep_best[1] not in _GOALS
        ):
            raise WandbConfigError(
                f"{where}: keep_best must be a (metric, goal) pair with goal 'min' or 'max', "
                f"e.g. ('loss', 'min'); got {keep_best!r}."
            )
        best = (keep_best[0], keep_best[1])
    return Retention(keep_last=keep_last, best=best)


def metric_value(where: str, metric: str, metadata: dict[str, Any], summary: Any) -> float:
    """The keep_best metric of the checkpoint being saved: ``metadata[metric]``, else the run's summary."""
    value = metadata.get(metric)
    source = "metadata"
    if value is None and summary is not None:
        try:
            value, source = summary.get(metric), "the run's summary"
        except Exception:  # a summary that cannot be read: treated as missing
            value = None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise WandbConfigError(
            f"{where}: keep_best ranks checkpoints by {metric!r}, but {source} holds {value!r} for it; "
            f"pass metadata={{{metric!r}: <number>}} or log {metric!r} before saving."
        )
    return float(value)


def is_managed_alias(alias: str) -> bool:
    return bool(_MANAGED_ALIAS_RE.match(alias))


def to_delete(versions: list[Version], policy: Retention) -> list[Version]:
    """The versions the policy drops, oldest first. The newest and protected ones are never among them."""
    if not policy.active or not versions:
        return []
    by_step = sorted(versions, key=lambda v: v.step)
    keep = {id(by_step[-1])}  # the restore target
    if policy.keep_last is not None:  # None with keep_best: the best and the newest only
        keep.update(id(v) for v in by_step[-policy.keep_last :])
    if policy.best is not None:
        goal = policy.best[1]
        ranked = [v for v in by_step if v.value is not None]
        if ranked:
            # Ties go to the newest: it is the one a resumed run would pick up anyway.
            pick = min if goal == "min" else max
            best = pick(reversed(ranked), key=lambda v: v.value if v.value is not None else 0.0)
            keep.add(id(best))
    return [v for v in by_step if id(v) not in keep and not v.protected]
