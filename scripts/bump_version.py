"""Set, check and plan the release version of every package under packages/.

The family is released in lockstep: every package has the same version, and every requirement of one
workspace package on another is an exact ``==VERSION`` pin (the umbrella's extras, the siblings' core
pin). Nothing else holds the version, so a release is one command:

    python scripts/bump_version.py 2.14.0      # rewrite versions and pins, then `uv lock`
    python scripts/bump_version.py --check     # exit 1 naming every disagreement (CI's lint session)
    python scripts/bump_version.py --check --expect 2.14.0   # also require this version (release tag)
    python scripts/bump_version.py --levels    # JSON: publish order, packages grouped by dependency depth
    python scripts/bump_version.py --split DIR # move DIR's wheels/sdists into DIR/<distribution>/

Runs on Python 3.10+ with the standard library only (tomli where tomllib is missing).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised by the 3.10 CI jobs
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
# PEP 440 public versions only: a release tag never carries a local part.
VERSION_RE = re.compile(r"^\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?$")
_PROJECT_VERSION = re.compile(r'(?m)^(version\s*=\s*")([^"]*)(")')
_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")


def normalise(name: str) -> str:
    """PEP 503 name: what pip compares (``Flyteplugins_Wandb`` == ``flyteplugins-wandb``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Package:
    name: str
    path: Path  # the pyproject.toml
    version: str
    requirements: tuple[str, ...]  # dependencies and every optional-dependency entry


def _load(pyproject: Path) -> Package:
    project: dict[str, Any] = tomllib.loads(pyproject.read_text())["project"]
    reqs = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        reqs.extend(extra)
    return Package(project["name"], pyproject, str(project.get("version", "")), tuple(reqs))


def workspace(root: Path = ROOT) -> dict[str, Package]:
    """Normalised distribution name -> package, for every packages/*/pyproject.toml."""
    found = {}
    for pyproject in sorted((root / "packages").glob("*/pyproject.toml")):
        pkg = _load(pyproject)
        found[normalise(pkg.name)] = pkg
    if not found:
        raise SystemExit(f"no packages/*/pyproject.toml under {root}")
    return found


def _sibling_requirements(pkg: Package, names: set[str]) -> list[tuple[str, str]]:
    """(normalised sibling name, version specifier) for each requirement on a workspace package."""
    out = []
    for req in pkg.requirements:
        m = _REQ_NAME.match(req)
        if m and normalise(m.group(1)) in names:
            out.append((normalise(m.group(1)), m.group(3).split(";")[0].strip()))
    return out


def check(root: Path = ROOT, expect: str | None = None) -> list[str]:
    """Every disagreement between the packages' versions and their sibling pins (empty: consistent)."""
    pkgs = workspace(root)
    versions = {pkg.version for pkg in pkgs.values()}
    problems = []
    if len(versions) != 1:
        listed = ", ".join(f"{p.name}={p.version}" for p in pkgs.values())
        problems.append(f"packages disagree on the version: {listed}")
    version = expect or sorted(versions)[0]
    if expect is not None and versions != {expect}:
        problems.append(f"expected every package at {expect}, found {sorted(versions)}")
    for pkg in pkgs.values():
        for sibling, spec in _sibling_requirements(pkg, set(pkgs)):
            if spec != f"=={version}":
                rel = pkg.path.relative_to(root)
                problems.append(f"{rel}: {pkg.name} requires {sibling}{spec or ' (unpinned)'}, not =={version}")
    return problems


def bump(version: str, root: Path = ROOT) -> list[Path]:
    """Rewrite every package's version and sibling pin to ``version``; return the files changed."""
    if not VERSION_RE.match(version):
        raise SystemExit(f"version must be a PEP 440 public version like 2.14.0 or 2.14.0rc1, got {version!r}")
    pkgs = workspace(root)
    names = "|".join(re.escape(n).replace(r"\-", "[-_.]") for n in sorted(pkgs, key=len, reverse=True))
    # A quoted requirement on a workspace package, extras allowed: "flyteplugins-wandb-core[report]==2.13.0"
    pin = re.compile(rf'(?i)(["\'](?:{names})\s*(?:\[[^\]]*\])?\s*)==\s*[^"\';,\s]+')
    changed = []
    for pkg in pkgs.values():
        text = pkg.path.read_text()
        head, sep, rest = text.partition("[project]")
        # Only the [project] table's own `version` key: the first one after the header.
        rest = _PROJECT_VERSION.sub(lambda m: f"{m.group(1)}{version}{m.group(3)}", rest, count=1)
        new = pin.sub(lambda m: f"{m.group(1)}=={version}", head + sep + rest)
        if new != text:
            pkg.path.write_text(new)
            changed.append(pkg.path)
    return changed


def levels(root: Path = ROOT) -> list[list[str]]:
    """Distribution names grouped for publishing: each group depends only on earlier groups."""
    pkgs = workspace(root)
    deps = {n: {s for s, _ in _sibling_requirements(p, set(pkgs))} - {n} for n, p in pkgs.items()}
    done: set[str] = set()
    out = []
    while len(done) < len(pkgs):
        ready = sorted(n for n in pkgs if n not in done and deps[n] <= done)
        if not ready:
            raise SystemExit(f"dependency cycle among {sorted(set(pkgs) - done)}")
        out.append([pkgs[n].name for n in ready])
        done.update(ready)
    return out


def split(dist: Path, root: Path = ROOT) -> dict[str, list[str]]:
    """Move each built file into ``dist/<distribution>/``; fail on a file no package claims."""
    pkgs = workspace(root)
    by_prefix = {re.sub(r"[-.]", "_", n) + "-" + p.version: p.name for n, p in pkgs.items()}
    moved: dict[str, list[str]] = {p.name: [] for p in pkgs.values()}
    for f in sorted(dist.iterdir()):
        if not f.is_file() or not f.name.endswith((".whl", ".tar.gz")):
            continue
        # Wheels are NAME-VERSION-TAGS.whl, sdists NAME-VERSION.tar.gz (NAME with underscores).
        stem = f.name.lower().removesuffix(".tar.gz").removesuffix(".whl")
        owner = next(
            (name for prefix, name in by_prefix.items() if stem == prefix or stem.startswith(prefix + "-")), None
        )
        if owner is None:
            raise SystemExit(f"{f.name}: not a distribution of this workspace at its current version")
        (dist / owner).mkdir(exist_ok=True)
        shutil.move(str(f), dist / owner / f.name)
        moved[owner].append(f.name)
    missing = [n for n, files in moved.items() if not any(x.endswith(".whl") for x in files)]
    if missing or any(not any(x.endswith(".tar.gz") for x in files) for files in moved.values()):
        raise SystemExit(f"every package needs a wheel and an sdist in {dist}: {moved}")
    return moved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("version", nargs="?", help="the new version for every package, e.g. 2.14.0")
    group.add_argument("--check", action="store_true", help="fail when versions or sibling pins disagree")
    group.add_argument("--levels", action="store_true", help="print the publish order as JSON")
    group.add_argument("--split", type=Path, metavar="DIR", help="sort built files into DIR/<name>/")
    parser.add_argument("--expect", help="with --check: the version every package must have")
    parser.add_argument("--no-lock", action="store_true", help="do not run `uv lock` after bumping")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.expect and not args.check:
        parser.error("--expect goes with --check")
    if args.check:
        problems = check(args.root, args.expect and args.expect.removeprefix("v"))
        for p in problems:
            print(f"version mismatch: {p}", file=sys.stderr)
        if not problems:
            pkgs = workspace(args.root)
            print(f"all {len(pkgs)} packages at {next(iter(pkgs.values())).version}")
        return 1 if problems else 0
    if args.levels:
        print(json.dumps(levels(args.root)))
        return 0
    if args.split:
        print(json.dumps(split(args.split, args.root), indent=2))
        return 0
    changed = bump(args.version, args.root)
    for path in changed:
        print(f"updated {path.relative_to(args.root)}")
    remaining = check(args.root, args.version)
    if remaining:  # a pin written in a form the rewrite does not recognise
        print("\n".join(remaining), file=sys.stderr)
        return 1
    if changed and not args.no_lock:
        # uv.lock records each member's version: refresh it so `uv sync --frozen` matches.
        subprocess.run(["uv", "lock"], cwd=args.root, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
