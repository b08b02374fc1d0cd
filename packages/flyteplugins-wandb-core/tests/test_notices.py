"""The plugin's stderr notices: whole lines, and one ``wandb sync`` line for many offline runs."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from flyteplugins.wandb_core import _notices


class _Writes:
    """A stderr stand-in that records every ``write`` call separately."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self.calls.append(text)
        return len(text)

    def flush(self) -> None:
        pass


@pytest.fixture
def stderr(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Writes]:
    _notices.flush_pending()
    stream = _Writes()
    # pytest re-assigns sys.stderr between test phases: replace it inside the test's own phase.
    with monkeypatch.context() as patch:
        patch.setattr(_notices, "sys", type("_Sys", (), {"stderr": stream}))
        yield stream


def test_each_notice_is_one_write_of_one_whole_line(stderr: _Writes) -> None:
    # Concurrent tasks finish at once: a notice split over two writes can merge with another one.
    start = threading.Barrier(8)

    def burst(i: int) -> None:
        start.wait()
        for j in range(25):
            _notices.notice(f"run r{i}-{j} saved offline\nsecond line")

    threads = [threading.Thread(target=burst, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(stderr.calls) == 200
    for call in stderr.calls:
        assert call.startswith("wandb: run r") and call.endswith("\n") and call.count("\n") == 1, call


def test_offline_runs_finished_while_others_are_open_share_one_sync_line(stderr: _Writes) -> None:
    _notices.offline_run_saved("child-1", "/w/offline-run-1", sync_id=None, others_open=True)
    _notices.offline_run_saved("child-2", "/w/offline-run-2", sync_id=None, others_open=True)
    assert stderr.calls == []
    _notices.offline_run_saved("parent", "/w/offline-run-0", sync_id=None, others_open=False)
    [line] = stderr.calls
    assert line.startswith("wandb: 3 runs saved offline (child-1, child-2, parent)")
    assert line.rstrip().endswith("upload them all with: wandb sync /w/offline-run-1 /w/offline-run-2 /w/offline-run-0")


def test_a_single_offline_run_keeps_the_one_run_wording(stderr: _Writes) -> None:
    _notices.offline_run_saved("solo", "/w/offline-run-s", sync_id=None, others_open=False)
    assert stderr.calls == [
        "wandb: run solo saved offline in /w/offline-run-s; upload it with: wandb sync /w/offline-run-s\n"
    ]


def test_a_run_that_needs_its_own_id_gets_its_own_line(stderr: _Writes) -> None:
    _notices.offline_run_saved("copy", "/w/offline-run-c", sync_id="real-id", others_open=True)
    [line] = stderr.calls
    assert "wandb sync --id real-id /w/offline-run-c" in line


def test_pending_runs_are_flushed_at_exit(stderr: _Writes) -> None:
    _notices.offline_run_saved("late", "/w/offline-run-l", sync_id=None, others_open=True)
    _notices.flush_pending()  # what the atexit hook calls
    assert len(stderr.calls) == 1 and "/w/offline-run-l" in stderr.calls[0]
