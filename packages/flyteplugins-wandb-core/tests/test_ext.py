"""The extension contract module ``flyteplugins.wandb_core.ext`` and the lint rule that guards it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from flyteplugins.wandb_core import ext

CORE = Path(ext.__file__).parent
ROOT = Path(__file__).resolve().parents[3]


def test_every_exported_name_resolves() -> None:
    missing = [name for name in ext.__all__ if not hasattr(ext, name)]
    assert missing == []
    assert len(ext.__all__) == len(set(ext.__all__))


def test_the_contract_is_short_and_each_name_is_documented_in_its_docstring() -> None:
    # The list an extension author reads: every name is described there, by purpose.
    assert len(ext.__all__) <= 15, "ext grows only deliberately: say why in its docstring"
    doc = ext.__doc__ or ""
    assert [name for name in ext.__all__ if not re.search(rf"`{name}(\(\))?`", doc)] == []


def test_importing_the_contract_does_not_import_wandb() -> None:
    # Extensions import ext at module level; wandb (about 1 s) must still load only when a run opens.
    code = "import sys, flyteplugins.wandb_core.ext; sys.exit('wandb' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_every_private_core_module_is_banned_for_the_siblings() -> None:
    pyproject = ROOT / "pyproject.toml"
    if not pyproject.is_file():
        pytest.skip("not in the repository checkout")
    try:
        import tomllib  # novermin: the fallback below covers 3.10
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    config = tomllib.loads(pyproject.read_text())
    banned = set(config["tool"]["ruff"]["lint"]["flake8-tidy-imports"]["banned-api"])
    private = {f"flyteplugins.wandb_core.{p.stem}" for p in CORE.glob("_*.py") if p.stem != "__init__"}
    private |= {f"flyteplugins.wandb_core.{p.parent.name}" for p in CORE.glob("_*/__init__.py")}
    assert private, "found no private modules"
    assert sorted(private - banned) == [], "add these to [tool.ruff.lint.flake8-tidy-imports.banned-api]"
    assert "flyteplugins.wandb_core.ext" not in banned
