"""The shape of the shipped source that issue 23 set: no product function over 60 lines, no module over 600,
and product code (every line, as `wc -l` counts) that does not grow back past its budget.

Long functions were where logic hid twice and where one parameter's path doubled back; the limit keeps
each step of a tracked call small enough to read at once. The loopback server is a test fixture, not
product code, and is left out as in the line count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 600
# Issue 23 asks for 9,000; the budget ratchets down toward it as code leaves, and never up.
MAX_PRODUCT_LINES = 9_150


def _product_files() -> list[Path]:
    return [p for p in sorted(ROOT.glob("packages/*/src/**/*.py")) if "wandb_loopback" not in p.parts]


def _long_functions(path: Path, root: Path = ROOT) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        f"{path.relative_to(root)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]


def test_the_product_source_is_found() -> None:
    # Guards the test below against passing on an empty glob after a layout change.
    names = {p.name for p in _product_files()}
    assert {"_decorator.py", "_sweep.py", "sync.py"} <= names


@pytest.mark.parametrize("path", _product_files(), ids=lambda p: str(p.relative_to(ROOT / "packages")))
def test_no_function_is_longer_than_60_lines(path: Path) -> None:
    assert _long_functions(path) == []


def _line_count(path: Path) -> int:
    return len(path.read_bytes().splitlines())


def test_the_product_code_stays_within_issue_23s_line_budget() -> None:
    total = sum(_line_count(p) for p in _product_files())
    assert total <= MAX_PRODUCT_LINES, f"product code is {total} lines, over the {MAX_PRODUCT_LINES} budget"


@pytest.mark.parametrize("path", _product_files(), ids=lambda p: str(p.relative_to(ROOT / "packages")))
def test_no_module_is_longer_than_600_lines(path: Path) -> None:
    assert _line_count(path) <= MAX_MODULE_LINES


def test_the_check_sees_a_long_function(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "long.py").write_text(f"def long_one():\n{body}\n")
    assert _long_functions(tmp_path / "long.py", tmp_path) == ["long.py:1 long_one (61 lines)"]
