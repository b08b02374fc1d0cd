"""A newcomer's first run: the demo twice in one folder, the getting-started and testing snippets twice,
then lint.

What a new user does on a fresh clone: run the README demo (which leaves a ``./wandb`` folder), run it
again, paste the getting-started examples, then run the test command (ruff, pytest). Each must work
however often and in whatever order.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flyteplugins.wandb.testing import runs_by_id

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _python(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_") or k == "WANDB_DIR"}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def _merged_lines(stderr: str) -> list[str]:
    """Lines where a ``wandb:`` notice starts in the middle (two writes interleaved)."""
    return [line for line in stderr.splitlines() if line.find("wandb: ", 1) != -1]


def test_the_demo_runs_twice_in_the_same_folder(isolated_wandb: Path) -> None:
    for attempt in (1, 2):
        proc = _python([str(ROOT / "examples" / "quickstart.py")], isolated_wandb)
        assert proc.returncode == 0, f"attempt {attempt}:\n{proc.stderr[-3000:]}"
        assert _merged_lines(proc.stderr) == []
        sync_lines = [line for line in proc.stderr.splitlines() if "upload them all with: wandb sync" in line]
        assert len(sync_lines) == 1, proc.stderr[-3000:]
    # Four runs per attempt (the pipeline and three `new` training runs), each finished.
    parts = [run for runs in runs_by_id(isolated_wandb / "wandb").values() for run in runs]
    assert len(parts) == 8 and all(run.exit_code == 0 for run in parts)


# The pages a newcomer pastes from first: getting started, then testing what they wrote.
NEWCOMER_PAGES = ("getting-started.md", "testing.md")


def _newcomer_snippets() -> list[str]:
    """The plain scripts of `NEWCOMER_PAGES` (not those marked skip, nor pytest files)."""
    out = []
    for page in NEWCOMER_PAGES:
        text = (ROOT / "docs" / page).read_text()
        for m in FENCE.finditer(text):
            before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
            if "docs-test: skip" not in before and "docs-test: pytest" not in before:
                out.append(m.group(1))
    return out


@pytest.mark.parametrize("index", range(len(_newcomer_snippets())))
def test_newcomer_snippet_runs_twice_in_the_same_folder(index: int, isolated_wandb: Path) -> None:
    script = isolated_wandb / "snippet.py"
    script.write_text(_newcomer_snippets()[index])
    for attempt in (1, 2):
        proc = _python([str(script)], isolated_wandb)
        assert proc.returncode == 0, f"attempt {attempt}:\n{proc.stderr[-3000:]}"


# The PyPI pages whose example a newcomer pastes (-distributed's needs flyteplugins-pytorch's Elastic
# and a cluster; -testing's are run by that package's own tests).
PYPI_PAGES = ("flyteplugins-wandb", "flyteplugins-wandb-core", "flyteplugins-wandb-sweeps")


@pytest.mark.parametrize("package", PYPI_PAGES)
def test_the_pypi_page_example_runs_as_written(package: str, isolated_wandb: Path) -> None:
    (example,) = FENCE.findall((ROOT / "packages" / package / "README.md").read_text())
    script = isolated_wandb / "example.py"
    script.write_text(example)
    proc = _python([str(script)], isolated_wandb)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.skipif(importlib.util.find_spec("ruff") is None, reason="ruff is not installed here")
def test_ruff_does_not_take_a_wandb_run_folder_for_a_first_party_package(tmp_path: Path) -> None:
    """The repository's ruff settings, in a folder where the demo left ``./wandb`` behind."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    run_dir = tmp_path / "wandb" / "offline-run-20260101_000000-abc" / "files"
    run_dir.mkdir(parents=True)
    (run_dir / "leftover.py").write_text("import os, sys\n")  # not ours to lint
    source = "import flyte\nimport wandb\n\nfrom flyteplugins.wandb import wandb_init\n\n"
    (tmp_path / "train.py").write_text(source + "print(flyte, wandb, wandb_init)\n")
    for args in (["check", "."], ["format", "--check", "."]):
        proc = subprocess.run(
            [sys.executable, "-m", "ruff", *args], cwd=tmp_path, capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_pytest_does_not_collect_inside_wandb_run_folders(tmp_path: Path) -> None:
    """The repository's pytest settings, in a folder holding run folders with test-like files."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    leftover = "def test_leftover():\n    assert False\n"
    for run_dir in ("wandb/offline-run-20260101_000000-abc/files", "examples/wandb/run-20260101_000000-abc"):
        (tmp_path / run_dir).mkdir(parents=True)
        (tmp_path / run_dir / "test_leftover.py").write_text(leftover)
    (tmp_path / "test_ok.py").write_text("def test_ok():\n    pass\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert "test_ok.py::test_ok" in proc.stdout, proc.stdout + proc.stderr
    assert "test_leftover" not in proc.stdout


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout")
@pytest.mark.parametrize(
    "path",
    [
        "wandb/offline-run-20260101_000000-abc/run-abc.wandb",
        "wandb/debug.log",
        "examples/wandb/offline-run-20260101_000000-abc/run-abc.wandb",
        "examples/wandb/latest-run",
        "integration-tests/wandb/run-20260101_000000-abc/files/config.yaml",
        "wandb/sweep-abc/config-x.yaml",
        "site/index.html",
        "docs/site/index.html",
    ],
)
def test_gitignore_covers_run_folders_and_the_docs_site(path: str) -> None:
    proc = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT, check=False)
    assert proc.returncode == 0, f"{path} is not ignored"


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout")
def test_gitignore_keeps_the_wandb_package_sources() -> None:
    path = "packages/flyteplugins-wandb/src/flyteplugins/wandb/__init__.py"
    proc = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT, check=False)
    assert proc.returncode == 1
