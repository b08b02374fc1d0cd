"""What importing the plugin loads, and where a trial's summary comes from (issue 15)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

from flyteplugins.wandb_core import _compat
from flyteplugins.wandb_core._state import ActiveRun, TrialHandle


def test_import_defers_run_time_modules() -> None:
    # The run-time half of the core (opening/finishing runs, wandb private API, the offline reader,
    # package metadata) loads on the first run, not at `import flyteplugins.wandb`; every public name
    # still resolves.
    code = textwrap.dedent(
        """
        import sys
        import flyteplugins.wandb_core as w
        deferred = [
            "flyteplugins.wandb_core._lifecycle", "flyteplugins.wandb_core._compat",
            "flyteplugins.wandb_core.ext", "flyteplugins.wandb_core._offline",
            "flyteplugins.wandb_core._resolve", "importlib.metadata", "difflib", "wandb",
        ]
        loaded = [m for m in deferred if m in sys.modules]
        assert not loaded, f"imported at import time: {loaded}"
        from flyteplugins.wandb_core import WandbTrackingError, WandbConfigError, wandb_init
        assert issubclass(WandbTrackingError, RuntimeError)
        from flyteplugins.wandb_core._lifecycle import WandbTrackingError as same
        assert same is WandbTrackingError
        for name in w.__all__:
            getattr(w, name)
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


class _Item:
    def __init__(self, key: str, value_json: str) -> None:
        self.key = key
        self.nested_key: list[str] = []
        self.value_json = value_json


class _Response:
    def __init__(self, items: list[_Item]) -> None:
        self.item = items


class _Run:
    """Stands in for a wandb Run: ``summary`` (live, before finish) and the summary finish keeps."""

    def __init__(self, live: dict[str, Any], final: _Response | None, finished: bool, keeps: bool = True):
        self.summary = live
        self._is_finished = finished
        if keeps:
            self._final_summary = final


def _close(run: _Run, finish: Any = None) -> dict[str, Any]:
    handle = TrialHandle()
    active = ActiveRun(run=run, run_id="r", primary=True)
    handle._closing(active)
    if finish is not None:
        finish(run)
    handle._closed(active)
    return handle.summary


def test_trial_summary_is_the_one_finish_kept() -> None:
    def finish(run: _Run) -> None:
        run._is_finished = True
        run._final_summary = _Response([_Item("loss", "0.25"), _Item("_step", "3")])
        run.summary = {}  # a finished run's summary reads empty

    run = _Run({"loss": 9.0}, None, finished=False)
    assert _close(run, finish) == {"loss": 0.25, "_step": 3}


def test_trial_summary_read_live_when_finish_stopped_early() -> None:
    # finish raised before it finished: the run is not finished and its live summary still reads.
    assert _close(_Run({"loss": 1.5}, None, finished=False)) == {"loss": 1.5}


def test_trial_summary_read_before_finish_without_the_private_attribute() -> None:
    run = _Run({"loss": 2.0}, None, finished=False, keeps=False)
    assert not _compat.keeps_final_summary(run)

    def finish(r: _Run) -> None:
        r.summary = {}

    assert _close(run, finish) == {"loss": 2.0}
