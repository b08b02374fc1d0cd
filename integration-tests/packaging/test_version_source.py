"""One version for the whole family: every package's version and every ``==V`` sibling pin agree,
and ``scripts/bump_version.py`` moves all of them at once (on a copy of the packages' metadata)."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "bump_version.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bump_version", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


bv = _script()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """The packages' pyproject.toml files only, laid out as in the repository."""
    for pyproject in (ROOT / "packages").glob("*/pyproject.toml"):
        dest = tmp_path / "packages" / pyproject.parent.name / "pyproject.toml"
        dest.parent.mkdir(parents=True)
        shutil.copy(pyproject, dest)
    return tmp_path


def test_repository_versions_and_pins_agree() -> None:
    assert bv.check(ROOT) == []


def test_every_package_pins_core_or_depends_on_no_sibling() -> None:
    pkgs = bv.workspace(ROOT)
    core = pkgs["flyteplugins-wandb-core"]
    pinned = {n for n, p in pkgs.items() if bv._sibling_requirements(p, set(pkgs))}
    # The umbrella and the extension packages build on core; a pin that vanished would not be checked.
    assert {"flyteplugins-wandb", "flyteplugins-wandb-distributed", "flyteplugins-wandb-sweeps"} <= pinned
    assert core.version


def test_bump_moves_every_version_and_pin(tree: Path) -> None:
    before = {n: p.version for n, p in bv.workspace(tree).items()}
    changed = bv.bump("9.8.7rc1", tree)
    assert len(changed) == len(before)
    assert bv.check(tree, "9.8.7rc1") == []
    texts = "\n".join(p.read_text() for p in (tree / "packages").glob("*/pyproject.toml"))
    old = next(iter(before.values()))
    # Third-party floors (flyte, wandb, sweeps) keep their versions; no sibling pin keeps the old one.
    assert f"=={old}" not in texts
    assert '"flyte>=' in texts


def test_check_names_the_pin_that_disagrees(tree: Path) -> None:
    sweeps = tree / "packages" / "flyteplugins-wandb-sweeps" / "pyproject.toml"
    version = bv.workspace(tree)["flyteplugins-wandb-sweeps"].version
    sweeps.write_text(sweeps.read_text().replace(f"flyteplugins-wandb-core=={version}", "flyteplugins-wandb-core>=2"))
    problems = bv.check(tree)
    assert len(problems) == 1
    assert "flyteplugins-wandb-sweeps" in problems[0] and ">=2" in problems[0]


def test_check_fails_when_one_package_lags(tree: Path) -> None:
    core = tree / "packages" / "flyteplugins-wandb-core" / "pyproject.toml"
    version = bv.workspace(tree)["flyteplugins-wandb-core"].version
    core.write_text(core.read_text().replace(f'version = "{version}"', 'version = "0.0.1"', 1))
    out = subprocess.run([sys.executable, str(SCRIPT), "--check", "--root", str(tree)], capture_output=True, text=True)
    assert out.returncode == 1
    assert "disagree on the version" in out.stderr and "flyteplugins-wandb-core=0.0.1" in out.stderr


def test_bad_version_is_refused(tree: Path) -> None:
    with pytest.raises(SystemExit, match="PEP 440"):
        bv.bump("v2.14", tree)


def test_publish_levels_put_core_first_and_the_umbrella_last() -> None:
    out = subprocess.run([sys.executable, str(SCRIPT), "--levels"], capture_output=True, text=True, check=True)
    levels = json.loads(out.stdout)
    assert "flyteplugins-wandb-core" in levels[0]
    assert levels[-1] == ["flyteplugins-wandb"]
    assert sorted(n for level in levels for n in level) == sorted(p.name for p in bv.workspace(ROOT).values())
    # .github/workflows/publish.yml has one job per level, each needing the job of the level before:
    # a level without a job would never be published, and one out of order would publish a package
    # before a sibling it requires.
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "publish.yml").read_text())
    by_level: dict[int, tuple[str, list[str]]] = {}
    for name, job in workflow["jobs"].items():
        found = re.search(r"levels\)\[(\d+)\]", str(job.get("strategy", {}).get("matrix", {}).get("dist", "")))
        if found:
            by_level[int(found.group(1))] = (name, job["needs"])
    assert sorted(by_level) == list(range(len(levels)))
    for level in range(1, len(levels)):
        assert by_level[level - 1][0] in by_level[level][1]


def test_split_sorts_files_by_distribution_and_rejects_strangers(tree: Path, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    pkgs = bv.workspace(tree)
    for pkg in pkgs.values():
        stem = pkg.name.replace("-", "_") + "-" + pkg.version
        (dist / f"{stem}-py3-none-any.whl").touch()
        (dist / f"{stem}.tar.gz").touch()
    moved = bv.split(dist, tree)
    assert {n: len(files) for n, files in moved.items()} == {p.name: 2 for p in pkgs.values()}
    assert (dist / "flyteplugins-wandb" / f"flyteplugins_wandb-{pkgs['flyteplugins-wandb'].version}.tar.gz").exists()
    (dist / "other_pkg-1.0-py3-none-any.whl").touch()
    with pytest.raises(SystemExit, match="other_pkg"):
        bv.split(dist, tree)


def _ci_pythons() -> set[str]:
    """The Python versions the hosted unit-test job runs (.github/workflows/ci.yml)."""
    text = (ROOT / ".github" / "workflows" / "ci.yml").read_text()
    unit = text[text.index("\n  unit:") :]
    found = re.search(r"python: \[([^\]]*)\]", unit)
    assert found, "ci.yml's unit job has no python matrix"
    return {v.strip().strip("\"'") for v in found.group(1).split(",")}


def test_python_classifiers_are_what_hosted_ci_tests() -> None:
    tested = _ci_pythons()
    floor = min(tested, key=lambda v: tuple(map(int, v.split("."))))
    for pkg in bv.workspace(ROOT).values():
        project = bv.tomllib.loads(pkg.path.read_text())["project"]
        claimed = {
            c.rsplit(" :: ", 1)[1]
            for c in project.get("classifiers", [])
            if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
        }
        assert claimed == tested, f"{pkg.name}: classifiers {sorted(claimed)}, hosted CI tests {sorted(tested)}"
        assert project["requires-python"] == f">={floor}", pkg.name
