"""Packaging smoke test: the built wheels, installed into fresh virtual environments.

Nothing here imports the workspace: every check runs in a new venv that got only the wheels from
``uv build --all-packages`` (``FLYTEPLUGINS_WANDB_DIST``; built on the fly when unset) plus their
dependencies from the package index, exactly as a user's ``pip install`` would.
"""

from __future__ import annotations

import email
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from email.message import Message
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
UMBRELLA = "flyteplugins-wandb"
CORE = "flyteplugins-wandb-core"
SIBLINGS = {"distributed": "flyteplugins-wandb-distributed", "sweeps": "flyteplugins-wandb-sweeps"}


TESTING = "flyteplugins-wandb-testing"  # the fake W&B server: any wandb user's, so not under flyteplugins/


def _module(dist: str) -> str:
    """Import path a distribution owns: flyteplugins-wandb -> flyteplugins.wandb, -core -> .wandb_core."""
    if dist == TESTING:
        return "wandb_loopback"
    return "flyteplugins." + dist.removeprefix("flyteplugins-").replace("-", "_")


MODULES = {dist: _module(dist) for dist in (UMBRELLA, CORE, *SIBLINGS.values())}
UV = os.environ.get("UV_BIN") or shutil.which("uv") or "uv"
TORCH_PIN = "torch==2.13.0+cpu"


def _uv_cache_dir() -> str:
    # Read before the per-test fixture points HOME at a temp dir, so the venvs reuse the real cache.
    if os.environ.get("UV_CACHE_DIR"):
        return os.environ["UV_CACHE_DIR"]
    out = subprocess.run([UV, "cache", "dir"], capture_output=True, text=True, check=False)
    return out.stdout.strip() or str(Path.home() / ".cache" / "uv")


UV_CACHE = _uv_cache_dir()


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# ---------------------------------------------------------------------------------------------
# The built artifacts
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def dist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("FLYTEPLUGINS_WANDB_DIST")
    if given:
        return Path(given)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [UV, "build", "--all-packages", "--out-dir", str(out)],
        cwd=ROOT,
        check=True,
        env={**os.environ, "UV_CACHE_DIR": UV_CACHE},
    )
    return out


def _workspace_dists() -> set[str]:
    if sys.version_info >= (3, 11):
        import tomllib  # novermin: guarded (vermin reads module-level guards only)
    else:  # 3.10: nox's own dependency
        import tomli as tomllib

    return {tomllib.loads(p.read_text())["project"]["name"] for p in (ROOT / "packages").glob("*/pyproject.toml")}


@pytest.fixture(scope="session")
def wheels(dist_dir: Path) -> dict[str, Path]:
    found = {}
    for whl in dist_dir.glob("*.whl"):
        found[_normalise(whl.name.split("-")[0])] = whl
    return found


def _metadata(whl: Path) -> Message:
    with zipfile.ZipFile(whl) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return email.message_from_bytes(zf.read(name))


def test_every_workspace_package_and_the_family_is_built(wheels: dict[str, Path], dist_dir: Path) -> None:
    expected = _workspace_dists()
    assert {UMBRELLA, CORE, *SIBLINGS.values()} <= expected, "the family is four distributions"
    assert set(wheels) == expected
    sdists = {_normalise(p.name.rsplit("-", 1)[0]) for p in dist_dir.glob("*.tar.gz")}
    assert sdists == expected


def _requires(whl: Path, extra: str | None = None) -> set[str]:
    """``name==version`` requirements of a wheel, unconditional or active for ``extra``."""
    from packaging.requirements import Requirement

    out = set()
    for raw in _metadata(whl).get_all("Requires-Dist") or []:
        req = Requirement(raw)
        active = (
            req.marker is None if extra is None else (req.marker is not None and req.marker.evaluate({"extra": extra}))
        )
        if active:
            out.add(f"{_normalise(req.name)}{req.specifier}")
    return out


def test_versions_are_lockstep_and_the_umbrella_pins_its_siblings(wheels: dict[str, Path]) -> None:
    versions = {name: _metadata(whl)["Version"] for name, whl in wheels.items()}
    version = versions[UMBRELLA]
    assert set(versions.values()) == {version}, versions

    assert f"{CORE}=={version}" in _requires(wheels[UMBRELLA])
    extras = _metadata(wheels[UMBRELLA]).get_all("Provides-Extra") or []
    assert {"distributed", "sweeps", "all"} <= set(extras)
    for extra, dist in SIBLINGS.items():
        assert f"{dist}=={version}" in _requires(wheels[UMBRELLA], extra), (extra, dist)
        assert f"{dist}=={version}" in _requires(wheels[UMBRELLA], "all"), ("all", dist)
        assert f"{CORE}=={version}" in _requires(wheels[dist]), dist
    # An extra adds only its own sibling (the smoke tests below prove it for installed environments).
    assert not {f"{d}=={version}" for d in SIBLINGS.values()} - _requires(wheels[UMBRELLA], "all")
    # The fake W&B server is test tooling: only the `testing` extra brings it, never the base or `all`.
    if TESTING in wheels:
        assert f"{TESTING}=={version}" in _requires(wheels[UMBRELLA], "testing")
        for extra in (None, "all", *SIBLINGS):
            assert not any(r.startswith(TESTING) for r in _requires(wheels[UMBRELLA], extra)), extra
        assert not any(r.startswith("flyteplugins") for r in _requires(wheels[TESTING])), "imports no plugin"


def test_each_wheel_has_readme_license_and_typing_marker(wheels: dict[str, Path]) -> None:
    for name, whl in wheels.items():
        meta = _metadata(whl)
        assert meta["Description-Content-Type"] == "text/markdown", name
        readme = meta.get_payload()
        assert isinstance(readme, str) and len(readme) > 400, f"{name}: README too short for PyPI"
        assert "pip install" in readme and UMBRELLA in readme, name
        assert meta["License-Expression"] == "Apache-2.0", name
        assert meta["Requires-Python"], name
        with zipfile.ZipFile(whl) as zf:
            names = zf.namelist()
        assert any(re.search(r"\.dist-info/licenses/LICENSE$", n) for n in names), name
        # PEP 420: a flyteplugins/__init__.py would shadow every other Flyte plugin.
        assert "flyteplugins/__init__.py" not in names, name
        module_dir = _module(name).replace(".", "/")
        assert f"{module_dir}/py.typed" in names, name
        assert f"{module_dir}/__init__.py" in names, name


def test_each_wheel_ships_only_its_own_module_directory(wheels: dict[str, Path]) -> None:
    """No two distributions ever own one file, in this release or against 2.12 (see the pip tests).

    2.12 shipped ``flyteplugins/wandb/`` from ``flyteplugins-wandb``; only that distribution may ship
    files there now, or pip's install-new-then-uninstall-old order deletes the new files on upgrade.
    """
    for name, whl in wheels.items():
        with zipfile.ZipFile(whl) as zf:
            files = [n for n in zf.namelist() if ".dist-info/" not in n]
        module_dir = _module(name).replace(".", "/") + "/"
        strays = [f for f in files if not f.startswith(module_dir)]
        assert not strays, f"{name} ships files outside {module_dir}: {strays}"


def test_core_declares_the_flyte_and_wandb_floors(wheels: dict[str, Path]) -> None:
    requires = [r.replace(" ", "") for r in _metadata(wheels[CORE]).get_all("Requires-Dist") or []]
    assert any(re.fullmatch(r"flyte>=2\.\d+\.\d+", r) for r in requires), requires
    assert any(re.fullmatch(r"wandb>=0\.\d+\.\d+", r) for r in requires), requires


# ---------------------------------------------------------------------------------------------
# Fresh virtual environments
# ---------------------------------------------------------------------------------------------


class Venv:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.python = path / "bin" / "python"

    def run(self, code: str, **env: str) -> str:
        proc = subprocess.run(
            [str(self.python), "-c", textwrap.dedent(code)],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            timeout=240,
        )
        assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        return proc.stdout

    def dists(self) -> dict[str, str]:
        out = self.run(
            "import importlib.metadata as m, json;"
            "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
        )
        return {_normalise(k): v for k, v in json.loads(out.strip().splitlines()[-1]).items()}

    def family(self) -> set[str]:
        return {d for d in self.dists() if d.startswith(UMBRELLA)}


def _make_venv(where: Path, dist_dir: Path, *requirements: str) -> Venv:
    env = {**os.environ, "UV_CACHE_DIR": UV_CACHE}
    env.pop("VIRTUAL_ENV", None)
    subprocess.run([UV, "venv", "--quiet", "--python", sys.executable, str(where)], check=True, env=env)
    venv = Venv(where)
    links = ["--find-links", str(dist_dir)]
    if os.environ.get("PIP_FIND_LINKS"):  # the local CPU torch wheel, for flyteplugins-pytorch
        links += ["--find-links", os.environ["PIP_FIND_LINKS"]]
    constraints = where.parent / f"{where.name}-constraints.txt"
    constraints.write_text(TORCH_PIN + "\n")
    # uv caches find-links wheels by name and version: a rebuilt 2.13.0 must not be served from cache.
    refresh = [a for dist in (UMBRELLA, CORE, *SIBLINGS.values()) for a in ("--refresh-package", dist)]
    subprocess.run(
        [
            UV,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(venv.python),
            *links,
            *refresh,
            "-c",
            str(constraints),
            *requirements,
        ],
        check=True,
        env=env,
        timeout=600,
    )
    return venv


def _assert_installed_from_wheels(venv: Venv, wheels: dict[str, Path]) -> None:
    """The family came from our wheels (not the workspace, not an index) and the workspace is absent."""
    for dist in venv.family():
        with zipfile.ZipFile(wheels[dist]) as zf:
            record = next(n for n in zf.namelist() if n.endswith(".dist-info/RECORD"))
            built = {line.split(",")[0]: line.split(",")[1] for line in zf.read(record).decode().splitlines()}
        out = venv.run(
            f"import importlib.metadata as m; d = m.distribution({dist!r});"
            "print('\\n'.join(f'{f},{f.hash.mode}={f.hash.value}' for f in d.files if f.hash))"
        )
        installed = dict(line.split(",", 1) for line in out.strip().splitlines())
        for path, digest in built.items():
            if digest and path.endswith(".py"):
                assert installed.get(path) == digest, f"{dist}: {path} differs from the built wheel"
    out = venv.run("import flyteplugins.wandb as w; print(w.__file__)")
    assert str(venv.path) in out and str(ROOT / "packages") not in out, out


def _version(wheels: dict[str, Path]) -> str:
    return _metadata(wheels[UMBRELLA])["Version"]


CORE_API_SMOKE = """
import sys

import flyteplugins.wandb as fw

# Importing the plugin must not import the wandb SDK: it loads when a tracked task runs.
assert "wandb" not in sys.modules, "import flyteplugins.wandb imported wandb"
for name in ("wandb_init", "wandb_config", "get_wandb_run", "get_wandb_run_dir", "Wandb",
             "get_wandb_context", "download_wandb_run_dir", "download_wandb_sweep_dirs"):
    assert callable(getattr(fw, name)), name

import flyte
from flyteplugins.wandb.testing import read_offline_runs

env = flyte.TaskEnvironment(name="smoke")

@fw.wandb_init(project="smoke")
@env.task
def train(x: int) -> int:
    fw.get_wandb_run().log({"loss": x})
    return x

flyte.init()
flyte.with_runcontext(mode="local", name="smoke").run(train, x=3)
runs = read_offline_runs("wandb")
assert len(runs) == 1, runs
assert runs[0].metric("loss") == [3] and runs[0].exit_code == 0 and runs[0].project == "smoke", runs[0]
print("CORE-OK", runs[0].id)
"""

MISSING_EXTRA = """
import flyteplugins.wandb as fw
from flyteplugins.wandb import MissingExtraError

for name, extra in (("wandb_sweep", "sweeps"), ("run_sweep_agents", "sweeps"),
                    ("get_distributed_info", "distributed")):
    try:
        getattr(fw, name)
    except MissingExtraError as exc:
        assert isinstance(exc, ImportError)
        assert f"flyteplugins-wandb[{extra}]" in str(exc), str(exc)
    else:
        raise AssertionError(f"{name} resolved without the {extra} extra")
try:
    from flyteplugins.wandb import wandb_sweep  # noqa: F401
except ImportError as exc:
    assert "flyteplugins-wandb[sweeps]" in str(exc), str(exc)
else:
    raise AssertionError("from-import of a sweeps name worked without the extra")

# `import *` takes only __all__, which holds no extra's names, so it works with the base install.
namespace = {}
exec("from flyteplugins.wandb import *", namespace)
for name in ("wandb_init", "wandb_config", "get_wandb_run", "Wandb", "download_wandb_run_logs"):
    assert name in namespace, name
assert "wandb_sweep" not in namespace and "get_distributed_info" not in namespace
print("MISSING-OK")
"""


def test_umbrella_alone_gives_the_core_api_and_names_missing_extras(
    tmp_path: Path, dist_dir: Path, wheels: dict[str, Path]
) -> None:
    venv = _make_venv(tmp_path / "venv", dist_dir, f"{UMBRELLA}=={_version(wheels)}")
    assert venv.family() == {UMBRELLA, CORE}
    _assert_installed_from_wheels(venv, wheels)
    assert "CORE-OK" in venv.run(CORE_API_SMOKE, WANDB_SILENT="true")
    assert "MISSING-OK" in venv.run(MISSING_EXTRA)
    assert "torch" not in venv.dists(), "the base install must not pull torch"


@pytest.mark.parametrize("extra", ["distributed", "sweeps", "all"])
def test_each_extra_adds_exactly_its_package(
    extra: str, tmp_path: Path, dist_dir: Path, wheels: dict[str, Path]
) -> None:
    venv = _make_venv(tmp_path / "venv", dist_dir, f"{UMBRELLA}[{extra}]=={_version(wheels)}")
    added = set(SIBLINGS.values()) if extra == "all" else {SIBLINGS[extra]}
    assert venv.family() == {UMBRELLA, CORE, *added}
    _assert_installed_from_wheels(venv, wheels)
    names = {"distributed": ["get_distributed_info"], "sweeps": ["wandb_sweep", "run_sweep_agents"]}
    wanted = [n for key, ns in names.items() if SIBLINGS[key] in added for n in ns]
    modules = [MODULES[d] for d in sorted(added)]
    venv.run(f"""
        import importlib
        import flyteplugins.wandb as fw
        for module in {modules!r}:
            importlib.import_module(module)
        for name in {wanted!r}:
            assert getattr(fw, name) is not None, name
        namespace = {{}}
        exec("from flyteplugins.wandb import *", namespace)  # as with 2.12: the extra's names come too
        assert [name for name in {wanted!r} if name not in namespace] == []
    """)
    assert "torch" not in venv.dists(), f"[{extra}] must not pull torch"


def test_flyteplugins_namespace_is_shared_with_other_flyte_plugins(
    tmp_path: Path, dist_dir: Path, wheels: dict[str, Path]
) -> None:
    venv = _make_venv(tmp_path / "venv", dist_dir, f"{UMBRELLA}[all]=={_version(wheels)}", "flyteplugins-pytorch")
    assert "flyteplugins-pytorch" in venv.dists()
    out = venv.run("""
        import flyteplugins
        import flyteplugins.pytorch
        import flyteplugins.wandb
        import flyteplugins.wandb_distributed
        from flyteplugins.pytorch import Elastic
        from flyteplugins.wandb import wandb_init
        assert getattr(flyteplugins, "__file__", None) is None, "flyteplugins must stay a PEP 420 namespace"
        print("NS", sorted({p.rsplit("/", 1)[-1] for p in flyteplugins.__path__}), Elastic.__name__)
    """)
    assert "NS ['flyteplugins'] Elastic" in out, out


# ---------------------------------------------------------------------------------------------
# Plain pip against the real 2.12.1 from PyPI: upgrade, downgrade, fresh install
# ---------------------------------------------------------------------------------------------
# pip (unlike uv) installs a new distribution before it uninstalls the old one; when two
# distributions claim one file across versions, the uninstall deletes the freshly written file and
# `pip check` still reports nothing. These tests use the installer most users have, in venvs made by
# the standard library's `venv` (so pip is the one bundled with the interpreter).

UPSTREAM = "2.12.1"
# Read before the per-test fixture points HOME at a temp dir, so pip reuses the real wheel cache.
PIP_CACHE = os.environ.get("PIP_CACHE_DIR") or str(Path.home() / ".cache" / "pip")
OURS_IMPORTS = """
import flyteplugins.wandb as fw
from flyteplugins.wandb import (Wandb, get_wandb_context, get_wandb_run, get_wandb_run_dir,
    wandb_config, wandb_init, download_wandb_run_logs)
assert fw.__file__.endswith("flyteplugins/wandb/__init__.py"), fw.__file__
assert callable(wandb_init) and Wandb().run_mode == "auto"
print("OURS-IMPORTS-OK")
"""
ALL_IMPORTS = """
from flyteplugins.wandb import (WandbSweep, get_distributed_info, get_wandb_sweep_id, run_sweep_agents,
    wandb_sweep, wandb_sweep_config)
import flyteplugins.wandb_distributed, flyteplugins.wandb_sweeps
assert callable(wandb_sweep) and WandbSweep().host == "https://wandb.ai"
print("ALL-IMPORTS-OK")
"""
UPSTREAM_IMPORTS = """
import importlib.metadata as m
import flyteplugins.wandb as fw
from flyteplugins.wandb import (Wandb, WandbSweep, get_wandb_run, wandb_config, wandb_init,
    wandb_sweep, wandb_sweep_config)
import flyteplugins.wandb._context  # 2.12's own module layout is back
assert m.version("flyteplugins-wandb") == "2.12.1"
import sys
assert "flyteplugins.wandb_core" not in sys.modules, "2.12.1 must not be wired to our core"
print("UPSTREAM-IMPORTS-OK")
"""


def _pip_env() -> dict[str, str]:
    env = {**os.environ, "PIP_CACHE_DIR": PIP_CACHE, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("VIRTUAL_ENV", None)
    env.pop("PIP_REQUIRE_VIRTUALENV", None)
    return env


def _pip_venv(where: Path) -> Venv:
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, env=_pip_env(), timeout=240)
    return Venv(where)


def _pip(venv: Venv, *args: str) -> str:
    proc = subprocess.run(
        [str(venv.python), "-m", "pip", *args], capture_output=True, text=True, env=_pip_env(), timeout=600
    )
    assert proc.returncode == 0, f"pip {' '.join(args)}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc.stdout


def _pip_install(venv: Venv, dist_dir: Path, *requirements: str) -> None:
    # --no-compile: byte-compiling flyte, wandb and their dependencies is most of an install's time
    # here, and bytecode plays no part in which distribution owns which file.
    _pip(venv, "install", "--quiet", "--no-compile", "--find-links", str(dist_dir), *requirements)


def _pip_check(venv: Venv) -> None:
    out = _pip(venv, "check")  # exits non-zero on a broken requirement
    assert "No broken requirements found" in out, out


def _module_files(venv: Venv) -> set[str]:
    """Files on disk under site-packages/flyteplugins/wandb/ (bytecode caches aside)."""
    site = Path(venv.run("import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    root = site / "flyteplugins" / "wandb"
    return {p.relative_to(site).as_posix() for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def _wheel_module_files(whl: Path) -> set[str]:
    with zipfile.ZipFile(whl) as zf:
        return {n for n in zf.namelist() if n.startswith("flyteplugins/wandb/") and not n.endswith("/")}


@pytest.fixture(scope="session")
def upstream_template(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """A venv with the real flyteplugins-wandb 2.12.1 from PyPI, installed by plain pip once per session."""
    venv = _pip_venv(tmp_path_factory.mktemp("upstream") / "venv")
    _pip(venv, "install", "--quiet", "--no-compile", f"{UMBRELLA}=={UPSTREAM}")
    assert venv.dists()[UMBRELLA] == UPSTREAM
    _pip_check(venv)
    return venv


@pytest.fixture
def upstream_venv(upstream_template: Venv, tmp_path: Path) -> Venv:
    """A private copy of the 2.12.1 venv (installing flyte + wandb again would cost ~30 s per test).

    The copy is as good as a fresh install for these tests: site-packages and the RECORD files are
    relative, `bin/python` links to the base interpreter, and pip is run as `python -m pip`.
    """
    where = tmp_path / "venv"
    shutil.copytree(upstream_template.path, where, symlinks=True)
    venv = Venv(where)
    assert venv.dists()[UMBRELLA] == UPSTREAM
    return venv


def test_pip_upgrade_from_2_12_and_downgrade_back(upstream_venv: Venv, dist_dir: Path, wheels: dict[str, Path]) -> None:
    version = _version(wheels)
    upstream_files = _module_files(upstream_venv)
    assert "flyteplugins/wandb/_context.py" in upstream_files, upstream_files

    # What a user types, pinned to our version so a newer release on the index cannot win.
    _pip_install(upstream_venv, dist_dir, "--upgrade", f"{UMBRELLA}=={version}")
    assert upstream_venv.family() == {UMBRELLA, CORE}
    _pip_check(upstream_venv)
    _assert_installed_from_wheels(upstream_venv, wheels)
    # Exactly the umbrella's files: none deleted by the old uninstall, no 2.12 leftovers.
    assert _module_files(upstream_venv) == _wheel_module_files(wheels[UMBRELLA])
    assert "OURS-IMPORTS-OK" in upstream_venv.run(OURS_IMPORTS)
    assert "CORE-OK" in upstream_venv.run(CORE_API_SMOKE, WANDB_SILENT="true")

    _pip_install(upstream_venv, dist_dir, f"{UMBRELLA}=={UPSTREAM}")
    assert upstream_venv.dists()[UMBRELLA] == UPSTREAM
    # pip leaves the now unused core installed; it owns only flyteplugins/wandb_core/, so it is harmless.
    _pip_check(upstream_venv)
    assert _module_files(upstream_venv) == upstream_files
    assert "UPSTREAM-IMPORTS-OK" in upstream_venv.run(UPSTREAM_IMPORTS)


def test_pip_upgrade_from_2_12_to_all(upstream_venv: Venv, dist_dir: Path, wheels: dict[str, Path]) -> None:
    _pip_install(upstream_venv, dist_dir, "--upgrade", f"{UMBRELLA}[all]=={_version(wheels)}")
    assert upstream_venv.family() == {UMBRELLA, CORE, *SIBLINGS.values()}
    _pip_check(upstream_venv)
    _assert_installed_from_wheels(upstream_venv, wheels)
    assert _module_files(upstream_venv) == _wheel_module_files(wheels[UMBRELLA])
    assert "OURS-IMPORTS-OK" in upstream_venv.run(OURS_IMPORTS)
    assert "ALL-IMPORTS-OK" in upstream_venv.run(ALL_IMPORTS)


def test_pip_fresh_install_of_ours_alone(tmp_path: Path, dist_dir: Path, wheels: dict[str, Path]) -> None:
    venv = _pip_venv(tmp_path / "venv")
    _pip_install(venv, dist_dir, f"{UMBRELLA}=={_version(wheels)}")
    assert venv.family() == {UMBRELLA, CORE}
    _pip_check(venv)
    _assert_installed_from_wheels(venv, wheels)
    assert "OURS-IMPORTS-OK" in venv.run(OURS_IMPORTS)
    # Base install only: `import *` works, an extra's name raises MissingExtraError naming the extra.
    assert "MISSING-OK" in venv.run(MISSING_EXTRA)


# ---------------------------------------------------------------------------------------------
# Sweeps on today's stack: numpy 2 stays (W&B's `sweeps` engine, which pins numpy<2, is optional)
# ---------------------------------------------------------------------------------------------
OFFLINE_SEARCH_SMOKE = """
import importlib.util
import numpy
from flyteplugins.wandb_sweeps._engine import OfflineController, validate_sweep_config
assert importlib.util.find_spec("sweeps") is None, "W&B's engine must not come with [sweeps]/[all]"
P = {"x": {"min": 0.0, "max": 1.0}, "n": {"values": [1, 2]}}
for method in ("grid", "random", "bayes"):
    params = {"n": P["n"]} if method == "grid" else P
    cfg = validate_sweep_config({"method": method, "metric": {"name": "loss"}, "parameters": params})
    c = OfflineController(cfg, "s", count=12)
    while (a := c.next_trial()) is not None:
        c.report(a.run_id, "finished", {"loss": a.params.get("x", 0.0) + a.params["n"]})
print("SEARCH-OK", numpy.__version__)
"""


def test_sweeps_needs_no_numpy_pinning_engine(wheels: dict[str, Path]) -> None:
    # [sweeps] brings the sweeps package and what it requires; W&B's engine only through its own extra.
    sweeps_requires = {r.split("<")[0].split(">")[0].split("=")[0] for r in _requires(wheels[SIBLINGS["sweeps"]])}
    assert "sweeps" not in sweeps_requires and "optuna" in sweeps_requires, sweeps_requires
    engine_extra = _requires(wheels[SIBLINGS["sweeps"]], "sweeps-wandb-engine")
    assert any(r.startswith("sweeps") for r in engine_extra), engine_extra
    umbrella_extras = _metadata(wheels[UMBRELLA]).get_all("Provides-Extra") or []
    assert "sweeps-wandb-engine" in umbrella_extras


@pytest.mark.timeout(900)  # one plain-pip install of [all] (flyte, wandb, optuna) into a fresh venv
def test_pip_all_keeps_numpy_2(tmp_path: Path, dist_dir: Path, wheels: dict[str, Path]) -> None:
    # numpy 2 first, as in an ML stack; [all] requires everything [sweeps] does, so this covers both.
    venv = _pip_venv(tmp_path / "venv")
    _pip(venv, "install", "--quiet", "--no-compile", "numpy>=2")
    _pip_install(venv, dist_dir, f"{UMBRELLA}[all]=={_version(wheels)}")
    _pip_check(venv)
    dists = venv.dists()
    assert dists["numpy"].split(".")[0] == "2", f"[all] downgraded numpy to {dists['numpy']}"
    assert "sweeps" not in dists
    out = venv.run(OFFLINE_SEARCH_SMOKE)
    assert "SEARCH-OK 2." in out, out


# An ML stack as users have it: CPU torch, numpy 2 and pandas, installed before the plugin.
TORCH_STACK_PIN = "torch==2.13.0+cpu"  # the local build: PyPI has no +cpu, so pip can never pick CUDA torch
OFFLINE_BAYES_SWEEP = """
import flyte
import numpy
import torch
from flyteplugins.wandb import get_wandb_run, run_sweep_agents, wandb_init, wandb_sweep, wandb_sweep_config
from flyteplugins.wandb.testing import read_offline_runs

env = flyte.TaskEnvironment(name="stack")


@wandb_init
def objective() -> None:
    run = get_wandb_run()
    # torch and numpy 2 together in the trial: the tensor crosses the numpy boundary both ways.
    x = torch.from_numpy(numpy.array([run.config["x"]]))
    run.log({"loss": float(((x - 2.0) ** 2).numpy()[0])})


@wandb_sweep(mode="offline")
@env.task
def sweep() -> int:
    return len(run_sweep_agents(objective, count=4, agents=2).trials)


flyte.init()
cfg = wandb_sweep_config(
    method="bayes",
    metric={"name": "loss", "goal": "minimize"},
    parameters={"x": {"min": 0.0, "max": 4.0}},
    project="stack",
)
run = flyte.with_runcontext(mode="local", name="stack", custom_context=cfg).run(sweep)
assert run.outputs()[0] == 4, run.outputs()
trials = read_offline_runs("wandb")
assert len(trials) == 4 and all(t.exit_code == 0 and t.metric("loss") for t in trials), trials
print("BAYES-OK", numpy.__version__, torch.__version__)
"""


def _local_torch_wheel() -> str | None:
    """Why the torch-stack test cannot run here, or None when the local CPU wheel is available."""
    links = os.environ.get("PIP_FIND_LINKS")
    if not links:
        return "PIP_FIND_LINKS is not set (it names the folder with the local torch 2.13.0 CPU wheel)"
    if not any(Path(d).glob("torch-2.13.0+cpu-*.whl") for d in links.split()):
        return f"no torch-2.13.0+cpu wheel in PIP_FIND_LINKS={links}"
    return None


@pytest.mark.timeout(900)  # torch from the local wheel, then [sweeps] (flyte, wandb, optuna) by plain pip
def test_pip_sweeps_on_a_torch_numpy_2_pandas_stack(tmp_path: Path, dist_dir: Path, wheels: dict[str, Path]) -> None:
    if reason := _local_torch_wheel():
        pytest.skip(f"torch stack not tested: {reason}")
    venv = _pip_venv(tmp_path / "venv")
    _pip(venv, "install", "--quiet", "--no-compile", TORCH_STACK_PIN, "numpy>=2", "pandas")
    before = venv.dists()
    assert before["numpy"].split(".")[0] == "2", before["numpy"]
    _pip_install(venv, dist_dir, f"{UMBRELLA}[sweeps]=={_version(wheels)}")
    _pip_check(venv)
    after = venv.dists()
    assert after["numpy"] == before["numpy"], f"[sweeps] changed numpy {before['numpy']} -> {after['numpy']}"
    assert after["torch"] == before["torch"] == "2.13.0+cpu", (before["torch"], after["torch"])
    assert after["pandas"] == before["pandas"], (before["pandas"], after["pandas"])
    assert "sweeps" not in after
    out = venv.run(OFFLINE_BAYES_SWEEP, WANDB_SILENT="true", WANDB_MODE="offline")
    assert "BAYES-OK 2." in out and "2.13.0+cpu" in out, out


# Online sweeps on numpy 2: the fake W&B server's controller falls back to the plugin's own engine
# when W&B's (`sweeps`, numpy<2) is absent. One flyte run holds every sweep (each run costs seconds).
NUMPY_2_SWEEPS = """
import importlib.util
import os

import flyte
import numpy
from flyteplugins.wandb import get_wandb_run, run_sweep_agents, wandb_init, wandb_sweep, wandb_sweep_config
from wandb_loopback import LoopbackServer
from wandb_loopback.teardown import teardown_wandb

assert importlib.util.find_spec("sweeps") is None, "W&B's engine must not be installed here"
os.chdir(os.environ["SWEEP_WORKDIR"])
env = flyte.TaskEnvironment(name="numpy2")
GRID, RANGE = {"x": {"values": [0, 1, 2, 3]}}, {"x": {"min": 0.0, "max": 4.0}}


@wandb_init
def objective() -> None:
    run = get_wandb_run()
    run.log({"loss": (run.config["x"] - 2) ** 2})


def xs(mode: str) -> list:
    result = run_sweep_agents(objective, count=4, agents=2, poll_interval=0.2)
    assert result.mode == mode and [t.state for t in result.trials] == ["finished"] * 4, result
    return sorted(t.params["x"] for t in result.trials)


@wandb_sweep
@env.task
def online() -> list:
    return xs("online")


@wandb_sweep(mode="offline")
@env.task
def offline() -> list:
    return xs("offline")


@env.task
def sweeps() -> list:
    found = []
    for task, method, parameters in [
        (online, "grid", GRID), (offline, "grid", GRID), (offline, "random", RANGE), (offline, "bayes", RANGE)
    ]:
        with wandb_sweep_config(method=method, metric={"name": "loss"}, parameters=parameters, project="np2"):
            found.append(task())
    return found


with LoopbackServer() as server:
    os.environ.update(server.env())
    flyte.init()
    try:
        run = flyte.with_runcontext(mode="local", name="np2").run(sweeps)
        online_grid, grid, rand, bayes = run.outputs()[0]
    finally:
        teardown_wandb()
    (sweep,) = server.sweeps()  # the online one, driven by the server's controller
    runs = [server.run(name) for name in sweep.run_names]
    assert sorted(r.config["x"] for r in runs) == [0, 1, 2, 3] and {r.state for r in runs} == {"finished"}
assert online_grid == grid == [0, 1, 2, 3], (online_grid, grid)
assert all(0.0 <= x <= 4.0 for x in rand + bayes) and len(set(rand + bayes)) == 8, (rand, bayes)
print("NUMPY2-SWEEPS-OK", numpy.__version__)
"""


@pytest.mark.timeout(900)  # one plain-pip install of [sweeps] + the testing package (flyte, wandb, optuna)
def test_pip_sweeps_and_the_fake_server_run_online_and_offline_sweeps_on_numpy_2(
    tmp_path: Path, dist_dir: Path, wheels: dict[str, Path]
) -> None:
    venv = _pip_venv(tmp_path / "venv")
    _pip(venv, "install", "--quiet", "--no-compile", "numpy>=2")
    version = _version(wheels)
    _pip_install(venv, dist_dir, f"{UMBRELLA}[sweeps]=={version}", f"{TESTING}[sweeps]=={version}")
    _pip_check(venv)
    dists = venv.dists()
    assert dists["numpy"].split(".")[0] == "2", f"numpy went to {dists['numpy']}"
    assert "sweeps" not in dists, "W&B's engine (numpy<2) came with [sweeps]"
    workdir = tmp_path / "work"
    workdir.mkdir()
    out = venv.run(NUMPY_2_SWEEPS, SWEEP_WORKDIR=str(workdir), WANDB_SILENT="true")
    assert "NUMPY2-SWEEPS-OK 2." in out, out
