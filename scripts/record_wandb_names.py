"""Record the names and setting types of several wandb releases into core's ``_wandb_names.py``.

Early validation (``@wandb_init`` / ``wandb_config``) must not import wandb, so it reads what each
wandb release accepts from a table recorded here: the ``wandb.init`` keyword arguments and the
``wandb.Settings`` fields with their value kinds, keyed by release line (major.minor). Each release is
installed into a throw-away virtual environment with uv and asked directly:

    python scripts/record_wandb_names.py 0.19 0.20 ... 0.31     # latest patch of each line

then the table in ``_wandb_names.py`` is rewritten between its ``BEGIN/END RECORDED`` markers. The
drift test (``tests/test_validate_inputs.py``) checks the table against whichever wandb is installed.
Needs uv on PATH and a package index; standard library only.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAMES = ROOT / "packages/flyteplugins-wandb-core/src/flyteplugins/wandb_core/_wandb_names.py"

# Run inside each release's environment; `_wandb_names.py` is stdlib-only, so it is loaded by path.
_DUMP = """
import importlib.util, inspect, json, sys
import wandb
spec = importlib.util.spec_from_file_location("names", sys.argv[1])
names = sys.modules["names"] = importlib.util.module_from_spec(spec); spec.loader.exec_module(names)
live = names.read_installed(wandb)
print(json.dumps({"version": wandb.__version__, "init": sorted(live.init_kwargs), "settings": live.settings}))
"""


def dump(line: str, work: Path) -> dict:
    venv = work / line
    subprocess.run(["uv", "venv", "-q", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(["uv", "pip", "install", "-q", "--python", str(python), f"wandb=={line}.*"], check=True)
    out = subprocess.run([str(python), "-c", _DUMP, str(NAMES)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def _span(present: list[str], lines: list[str]) -> str:
    """`[0.22-]`, `[-0.30]`, `[0.22-0.30]`, or "" when present in every recorded line."""
    first, last = lines.index(present[0]), lines.index(present[-1])
    if present != lines[first : last + 1]:
        raise SystemExit(f"a name comes and goes across {present}: record it by hand")
    since = present[0] if first > 0 else ""
    until = present[-1] if last < len(lines) - 1 else ""
    return f"[{since}-{until}]" if since or until else ""


def render(dumps: dict[str, dict]) -> str:
    lines = sorted(dumps, key=lambda v: tuple(int(p) for p in v.split(".")))
    init: dict[str, list[str]] = defaultdict(list)
    settings: dict[str, list[str]] = defaultdict(list)
    kinds: dict[str, str] = {}
    for line in lines:
        for name in dumps[line]["init"]:
            init[name].append(line)
        for name, kind in dumps[line]["settings"].items():
            if kinds.setdefault(name, kind) != kind:
                raise SystemExit(f"settings[{name!r}] changes kind ({kinds[name]} -> {kind}): record by hand")
            settings[name].append(line)
    by_kind: dict[str, list[str]] = defaultdict(list)
    for name in sorted(settings):
        by_kind[kinds[name]].append(name + _span(settings[name], lines))
    releases = [f'"{dumps[line]["version"]}",' for line in lines]
    out = ["RECORDED_RELEASES = (", *_rows(releases, "   "), ")"]
    out += ['"""The release each recorded line was read from."""', ""]
    # `init:` first: the wandb.init arguments; then the wandb.Settings fields of each kind.
    by_kind["init"] = [name + _span(init[name], lines) for name in sorted(init)]
    out += ["TABLE = _by_kind(", '    """']
    for kind in ["init", *sorted(by_kind.keys() - {"init"})]:
        out += _rows([f"{kind}:", *by_kind[kind]], "   ", "       ")
    out += ['    """', ")"]
    return "\n".join(out) + "\n"


def _rows(words: Iterable[str], indent: str, more: str | None = None) -> list[str]:
    """Words in rows of at most 116 characters: the first row after ``indent``, the others after ``more``."""
    rows, row = [], indent
    for word in words:
        if len(row) + len(word) + 1 > 116:
            rows.append(row)
            row = indent if more is None else more
        row += " " + word
    return [*rows, row]


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit(__doc__)
    with tempfile.TemporaryDirectory() as tmp:
        dumps = {line: dump(line, Path(tmp)) for line in argv}
    text = NAMES.read_text()
    head, rest = text.split("# BEGIN RECORDED\n")
    _, tail = rest.split("# END RECORDED\n")
    NAMES.write_text(f"{head}# BEGIN RECORDED\n{render(dumps)}# END RECORDED\n{tail}")
    print(f"recorded {', '.join(d['version'] for d in dumps.values())} into {NAMES.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
