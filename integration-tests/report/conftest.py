"""Fixtures for the W&B report tab tests: run a task in Flyte local mode and read its report.html back.

Each test uses a unique run name and removes the run's local folders afterwards.
"""

from __future__ import annotations

import shutil
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import flyte
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from report_html import LOCAL_METADATA, LOCAL_RAW_DATA, LocalReport, find_reports


@pytest.fixture
def run_with_report() -> Iterator[Callable[..., LocalReport]]:
    """``run_with_report(task, *args, expect_error=False)`` runs ``task`` locally, returns its reports."""
    names: list[str] = []

    def run(task: Any, *args: Any, expect_error: bool = False, **kwargs: Any) -> LocalReport:
        name = f"rep-{uuid.uuid4().hex[:10]}"
        names.append(name)
        outputs = error = None
        try:
            outputs = flyte.with_runcontext(mode="local", name=name).run(task, *args, **kwargs).outputs()
        except Exception as exc:
            if not expect_error:
                raise
            error = exc
        if expect_error and error is None:
            pytest.fail("the task was expected to fail")
        return LocalReport(run_name=name, paths=find_reports(name), outputs=outputs, error=error)

    yield run
    for name in names:
        shutil.rmtree(LOCAL_METADATA / name, ignore_errors=True)
        shutil.rmtree(LOCAL_RAW_DATA / name, ignore_errors=True)
