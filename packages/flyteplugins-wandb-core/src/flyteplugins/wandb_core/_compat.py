"""Every use of wandb's private API, checked on `CHECKED_OLDEST` .. `CHECKED_NEWEST`; each names its fallback."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from ._state import DEFAULT_API_URL

CHECKED_OLDEST = "0.28.2"
CHECKED_NEWEST = "0.31.0"


def configured_base_url() -> str:  # the API URL the next wandb.init uses (wandb_setup.singleton().settings.base_url)
    try:
        from wandb.sdk import wandb_setup

        return str(wandb_setup.singleton().settings.base_url)
    except Exception:  # a private API moved: the documented variable, then W&B cloud
        return os.environ.get("WANDB_BASE_URL") or DEFAULT_API_URL


def finish_timed_out(run: Any) -> bool:  # run.finish() gave up waiting for the upload (Run._finish_timed_out)
    return bool(getattr(run, "_finish_timed_out", False))


def wandb_unreachable(exc: BaseException) -> bool:
    """``exc`` (or what it was raised from) is the service's ``WandbApiFailedError``: W&B stopped answering."""
    try:
        from wandb.sdk.lib.service.service_connection import WandbApiFailedError
    except ImportError:  # moved: nothing is recognised, the error reaches the caller as before
        return False
    seen: BaseException | None = exc
    for _ in range(5):  # the exception and what it was raised from
        if seen is None or isinstance(seen, WandbApiFailedError):
            return seen is not None
        seen = seen.__cause__ or seen.__context__
    return False


def settings_offline(run: Any) -> bool:  # run.settings._offline
    return bool(getattr(getattr(run, "settings", None), "_offline", False))


# What ``run.finish`` is reached through: ``with wandb.init() as run:`` calls ``Run._finish`` on exit.
FINISHERS = ("finish", "_finish")


def run_of_torch_hook(runs: list[Any]) -> Any | None:
    """The run whose ``wandb.watch`` hook (``Run._torch_history``) reads ``wandb.run`` (on autograd's threads)."""
    frame = sys._getframe(1)
    for _ in range(4):  # this function <- its caller <- the wandb.run getter <- log_tensor_stats
        frame = frame.f_back  # type: ignore[assignment]
        if frame is None:
            return None
        if frame.f_code.co_name == "log_tensor_stats":
            caller = frame.f_locals.get("self")
            return next((r for r in runs if r.__dict__.get("_torch_history") is caller), None)
    return None


def is_finished(run: Any) -> bool:  # Run._is_finished; False when gone: finishing twice is harmless
    return bool(getattr(run, "_is_finished", False))


def keeps_final_summary(run: Any) -> bool:  # run.finish() keeps the summary it fetched (Run._final_summary)
    return hasattr(run, "_final_summary")


def final_summary(run: Any) -> dict[str, Any] | None:  # what run.finish() kept, decoded like run.summary
    if (response := getattr(run, "_final_summary", None)) is None:
        return None
    try:
        from wandb.sdk.lib import proto_util

        return dict(proto_util.dict_from_proto_list(response.item))
    except Exception:  # a changed layout: the caller treats it as no summary kept
        return None


def record_class() -> Callable[[], Any]:  # the transaction log's protobuf Record; no fallback (ImportError)
    from wandb.proto import wandb_internal_pb2 as pb

    return pb.Record  # type: ignore[attr-defined, no-any-return]  # generated protobuf module


def installed_distributions() -> list[Any]:  # as wandb lists them for requirements.txt
    from wandb.util import working_set

    return list(working_set())


def saves_requirements_by_default() -> bool:  # by a wandb.init without x_save_requirements
    try:
        from wandb.sdk import wandb_setup

        return bool(wandb_setup.singleton().settings.x_save_requirements)
    except Exception:  # a private API moved: the documented variable
        return os.environ.get("WANDB__SAVE_REQUIREMENTS", "true").lower() not in ("false", "0", "no")


def can_publish_requirements() -> bool:  # wandb takes a package list from outside; False: a name moved, wandb scans
    try:
        from wandb.sdk.interface.interface import InterfaceBase
        from wandb.util import working_set  # noqa: F401
    except ImportError:
        return False
    return callable(getattr(InterfaceBase, "publish_python_packages", None))


def publish_requirements(run: Any, packages: list[Any]) -> None:
    """Hand ``packages`` to wandb (as ``Run._on_start`` does), else write and save requirements.txt in its format;
    a disabled run (``_interface`` None) records nothing."""
    interface = getattr(run, "_interface", False)  # False: no such attribute, unlike a disabled run's None
    if interface is None:
        return
    if hasattr(interface, "publish_python_packages"):
        interface.publish_python_packages(packages)
        return
    path = os.path.join(str(run.dir), "requirements.txt")
    with open(path, "w") as f:
        f.writelines(f"{p.key}=={p.version}\n" for p in packages)
    run.save(path, base_path=str(run.dir), policy="now")
