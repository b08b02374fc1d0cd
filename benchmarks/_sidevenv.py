"""Side virtual environments for the benchmarks: upstream flyteplugins-wandb 2.12.1 and our tree.

A comparison with upstream is only fair when both sides see the same installed packages: wandb's
per-run requirements scan reads every installed distribution, so a bigger environment is slower.
Both sides therefore get a venv of their own under ``<tree>/.benchmarks/`` built with
``python -m venv`` + pip from the same pins (flyte and wandb as locked in uv.lock), and differ only
in the plugin. A venv is rebuilt only when what it should contain changes (a stamp file records it).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UPSTREAM = "flyteplugins-wandb==2.12.1"


def locked_version(name: str, root: Path = ROOT) -> str:
    """The version uv.lock pins for ``name`` (flyte, wandb): both sides install exactly that."""
    text = (root / "uv.lock").read_text()
    match = re.search(rf'\nname = "{re.escape(name)}"\nversion = "([^"]+)"', text)
    if not match:
        raise SystemExit(f"uv.lock pins no version of {name}")
    return match.group(1)


def _python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure(venv: Path, requirements: list[str]) -> Path:
    """Create ``venv`` with ``requirements`` installed (pip arguments); return its interpreter."""
    stamp = venv / ".bench-stamp"
    wanted = hashlib.sha256("\n".join(requirements).encode()).hexdigest()
    python = _python(venv)
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    print(f"[setup] creating {venv} ({' '.join(requirements)})", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *requirements], check=True)
    stamp.write_text(wanted)
    return python


def upstream_venv(root: Path = ROOT) -> Path:
    """Upstream flyteplugins-wandb 2.12.1 with the locked flyte and wandb."""
    pins = [f"flyte=={locked_version('flyte', root)}", f"wandb=={locked_version('wandb', root)}"]
    return ensure(root / ".benchmarks" / "upstream", [UPSTREAM, *pins])


def ours_venv(tree: Path, root: Path = ROOT, extras: tuple[str, ...] = ()) -> Path:
    """The plugin from ``tree`` (this checkout, or an older one for "before" figures), editable."""
    pins = [f"flyte=={locked_version('flyte', root)}", f"wandb=={locked_version('wandb', root)}"]
    packages = ["flyteplugins-wandb-core", "flyteplugins-wandb", *extras]
    editables = [a for p in packages for a in ("-e", str(tree / "packages" / p))]
    return ensure(tree / ".benchmarks" / "ours", [*editables, *pins])
