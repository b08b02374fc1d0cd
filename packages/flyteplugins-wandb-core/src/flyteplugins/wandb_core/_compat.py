"""Every use of wandb's private (underscore or internal) API, in one place.

wandb does not promise these names across releases, so each helper here:

- names the wandb versions it was checked on (``checked: oldest .. newest``); the project's
  version-matrix session (nox ``matrix``) runs the tests that reach each one on both ends;
- degrades instead of raising when the private name is gone, with the documented fallback noted.

When a new wandb release moves one of these, this is the only file to change. Nothing else in the
packages imports ``wandb.sdk``, ``wandb.proto``, ``wandb.apis.InternalApi`` or underscore attributes
of wandb objects; sibling packages reach the helpers they need through ``flyteplugins.wandb_core.ext``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ._runtime import DEFAULT_API_URL

# The range every helper below was checked on, oldest .. newest (the project's supported wandb range).
CHECKED_OLDEST = "0.28.2"
CHECKED_NEWEST = "0.31.0"


def configured_base_url() -> str:
    """The API URL the next ``wandb.init`` will use: environment, settings files, defaults, in wandb's order.

    checked: wandb 0.28.2 .. 0.31.0 (``wandb.sdk.wandb_setup.singleton().settings.base_url``). Falls back
    to the documented ``WANDB_BASE_URL`` variable, then W&B cloud.
    """
    try:
        from wandb.sdk import wandb_setup

        return str(wandb_setup.singleton().settings.base_url)
    except Exception:  # a private API moved: the documented variable still works
        return os.environ.get("WANDB_BASE_URL") or DEFAULT_API_URL


def finish_timed_out(run: Any) -> bool:
    """``run.finish()`` gave up waiting for the upload (``finish_timeout``) instead of confirming it.

    checked: wandb 0.28.2 .. 0.31.0 (``Run._finish_timed_out``). Reads False when the attribute is gone:
    the run then looks confirmed, as it did before wandb had a finish timeout.
    """
    return bool(getattr(run, "_finish_timed_out", False))


def is_finished(run: Any) -> bool:
    """The run has been finished already (so finishing it again would be a no-op or an error).

    checked: wandb 0.28.2 .. 0.31.0 (``Run._is_finished``). Reads False when gone: ``finish()`` on a
    finished run is harmless there.
    """
    return bool(getattr(run, "_is_finished", False))


def keeps_final_summary(run: Any) -> bool:
    """``run.finish()`` fetches the run's final summary from wandb's service and keeps it on the run.

    checked: wandb 0.28.2 .. 0.31.0 (``Run._final_summary``, set in ``Run._on_finish``). Reading it after
    finish saves a service round trip per run over reading ``run.summary`` before (tens of ms when
    many runs finish at once). False when gone: callers then read ``run.summary`` before finishing.
    """
    return hasattr(run, "_final_summary")


def final_summary(run: Any) -> dict[str, Any] | None:
    """The summary ``run.finish()`` kept (see `keeps_final_summary()`); None when it kept none.

    checked: wandb 0.28.2 .. 0.31.0 (a ``GetSummaryResponse``, decoded with
    ``wandb.sdk.lib.proto_util.dict_from_proto_list`` as ``run.summary`` itself does).
    """
    response = getattr(run, "_final_summary", None)
    if response is None:
        return None
    try:
        from wandb.sdk.lib import proto_util

        return dict(proto_util.dict_from_proto_list(response.item))
    except Exception:  # a changed layout: the caller treats it as no summary kept
        return None


def record_class() -> Callable[[], Any]:
    """The protobuf ``Record`` message of wandb's transaction log (``run-*.wandb`` files).

    checked: wandb 0.28.2 .. 0.31.0 (``wandb.proto.wandb_internal_pb2.Record``). No fallback: without
    it an offline run file cannot be read, and the ImportError says so.
    """
    from wandb.proto import wandb_internal_pb2 as pb

    return pb.Record  # type: ignore[attr-defined, no-any-return]  # generated protobuf module


def installed_distributions() -> list[Any]:
    """The installed distributions as wandb lists them for a run's requirements.txt (name, version).

    checked: wandb 0.28.2 .. 0.31.0 (``wandb.util.working_set``, what ``Run._on_start`` records). No
    fallback is needed: `can_publish_requirements()` is False without it, and wandb scans itself.
    """
    from wandb.util import working_set

    return list(working_set())


def saves_requirements_by_default() -> bool:
    """Whether a ``wandb.init`` without an explicit ``x_save_requirements`` would record requirements.

    checked: wandb 0.28.2 .. 0.31.0 (``wandb_setup.singleton().settings``: environment, settings files
    and ``wandb.setup()`` overrides). Falls back to the documented ``WANDB__SAVE_REQUIREMENTS`` variable.
    """
    try:
        from wandb.sdk import wandb_setup

        return bool(wandb_setup.singleton().settings.x_save_requirements)
    except Exception:
        return os.environ.get("WANDB__SAVE_REQUIREMENTS", "true").lower() not in ("false", "0", "no")


def can_publish_requirements() -> bool:
    """This wandb accepts a package list from outside (so a run can skip its own scan).

    checked: wandb 0.28.2 .. 0.31.0 (``InterfaceBase.publish_python_packages`` and ``working_set``).
    False when either moved: the plugin then leaves the scan to wandb.
    """
    try:
        from wandb.sdk.interface.interface import InterfaceBase
        from wandb.util import working_set  # noqa: F401
    except ImportError:
        return False
    return callable(getattr(InterfaceBase, "publish_python_packages", None))


def publish_requirements(run: Any, packages: list[Any]) -> None:
    """Hand ``packages`` to wandb for ``run``: it writes and records requirements.txt as it would itself.

    checked: wandb 0.28.2 .. 0.31.0 (``Run._interface.publish_python_packages``, the call
    ``Run._on_start`` makes). A run without a backend (disabled) records nothing, as in wandb. Should
    ``_interface`` be renamed, the file is written in wandb's format and saved with ``run.save``.
    """
    missing = object()
    interface = getattr(run, "_interface", missing)
    if interface is None:
        return
    if interface is not missing and hasattr(interface, "publish_python_packages"):
        interface.publish_python_packages(packages)
        return
    path = os.path.join(str(run.dir), "requirements.txt")
    with open(path, "w") as f:
        f.writelines(f"{p.key}=={p.version}\n" for p in packages)
    run.save(path, base_path=str(run.dir), policy="now")
