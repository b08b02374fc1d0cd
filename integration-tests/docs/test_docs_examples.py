"""Execute the Python examples of the docs site, each in a fresh process and directory.

Every fenced ``python`` block under ``docs/`` runs as written (offline: the integration conftest clears
the W&B environment and chdirs into a temp dir). A block that cannot run here (it needs a Flyte
cluster, a W&B account or GPUs) is preceded by ``<!-- docs-test: skip (reason) -->``; it is still
compiled, so it cannot rot into invalid Python. A block preceded by ``<!-- docs-test: pytest -->`` is a
user's test file: it runs under ``python -m pytest`` (with the fake W&B server's fixtures installed).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

DOCS = Path(__file__).resolve().parents[2] / "docs"
FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\s*\((?P<reason>[^)]+)\)\s*-->\s*$")
PYTEST = re.compile(r"<!--\s*docs-test:\s*pytest\s*-->\s*$")


@dataclass(frozen=True)
class Example:
    page: str
    line: int
    code: str
    skip: str | None
    pytest: bool = False

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def collect(docs: Path = DOCS) -> list[Example]:
    found = []
    for md in sorted(docs.rglob("*.md")):
        text = md.read_text()
        for m in FENCE.finditer(text):
            before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
            skip = SKIP.search(before)
            found.append(
                Example(
                    page=str(md.relative_to(docs)),
                    line=text.count("\n", 0, m.start()) + 1,
                    code=m.group(1),
                    skip=skip.group("reason") if skip else None,
                    pytest=PYTEST.search(before) is not None,
                )
            )
    return found


EXAMPLES = collect()


def test_the_docs_have_runnable_examples() -> None:
    runnable = [e for e in EXAMPLES if e.skip is None]
    assert len(runnable) >= 8, [e.id for e in EXAMPLES]
    # Every page that teaches an API shows at least one example that really runs.
    pages = {e.page for e in runnable}
    for page in ("getting-started.md", "run-modes.md", "testing.md"):
        assert page in pages, page
    # docs/testing.md's user test file (offline and against the fake W&B server) runs under pytest.
    assert any(e.pytest and e.page == "testing.md" for e in runnable)


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_docs_example(example: Example, tmp_path: Path) -> None:
    compile(example.code, example.id, "exec")
    if example.skip:
        pytest.skip(example.skip)
    # A test file is named test_*.py so pytest collects it; -p no:cacheprovider keeps tmp_path clean.
    script = tmp_path / ("test_example.py" if example.pytest else "example.py")
    script.write_text(example.code)
    runner = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"] if example.pytest else [sys.executable]
    proc = subprocess.run(
        [*runner, str(script)],
        cwd=tmp_path,
        env={**os.environ, "WANDB_SILENT": "true"},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, f"{example.id} failed:\n{proc.stdout}\n{proc.stderr}"


def _run_example(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    script = cwd / "example.py"
    script.write_text(code)
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=cwd,
        env={**os.environ, "WANDB_SILENT": "true"},
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_offline_sweep_example_run_twice_in_one_folder_returns_the_same_result(tmp_path: Path) -> None:
    # A user re-running the example (or Flyte retrying the sweep task after its last trial) gets the
    # sweep's trials back from disk: the same trials and the same best, nothing run again.
    (example,) = [e for e in EXAMPLES if e.page == "sweeps.md" and e.skip is None and "count=3" in e.code]
    code = example.code + (
        "\nimport json\n"
        "print('RESULT', json.dumps({'best': run.outputs()[0], 'runs': sorted(t.run_id for t in trials)}))\n"
    )
    outputs = []
    for attempt in (1, 2):
        proc = _run_example(code, tmp_path)
        assert proc.returncode == 0, f"attempt {attempt} failed:\n{proc.stdout}\n{proc.stderr}"
        outputs.append([line for line in proc.stdout.splitlines() if line.startswith("RESULT ")])
    assert outputs[0] == outputs[1] and len(outputs[0]) == 1, outputs
    # The second attempt started no trial: its progress says it resumed all three.
    assert "resuming: 3 trial(s)" in proc.stderr, proc.stderr


def test_api_reference_documents_every_public_name() -> None:
    """Each name exported by ``flyteplugins.wandb`` has an entry in the built API reference."""
    site = os.environ.get("DOCS_SITE_DIR")
    if not site:
        pytest.skip("DOCS_SITE_DIR not set (the nox `docs` session builds the site and sets it)")
    import flyteplugins.wandb as fw
    from flyteplugins.wandb_core._extras import OPTIONAL_NAMES

    html = "".join(p.read_text() for p in Path(site).glob("reference/**/index.html"))
    missing = []
    for name in fw.__all__:
        module = OPTIONAL_NAMES[name][0] if name in OPTIONAL_NAMES else "flyteplugins.wandb"
        anchors = (f'id="{module}.{name}"', f'id="flyteplugins.wandb_core._download.{name}"')
        if not any(a in html for a in anchors):
            missing.append(name)
    assert not missing, f"not in the API reference: {missing}"
