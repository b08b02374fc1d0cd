"""Fan-out throughput: a parent with N concurrent ``run_mode="new"`` children, against upstream 2.12.1.

    uv run python benchmarks/bench_fanout.py [--n 200] [--steps 20] [--rounds 3] [--ours PATH]

Builds two side venvs under ``.benchmarks/`` (``_sidevenv.py``): upstream flyteplugins-wandb 2.12.1
and the plugin from ``--ours`` (default: this checkout; pass an older worktree for "before"
figures), both with the flyte and wandb versions uv.lock pins, so both see the same installed
packages. Each round runs, in a fresh interpreter each and in a rotating order:

- ours and upstream: ``@wandb_init`` parent, N ``@wandb_init(run_mode="new")`` children, each
  logging ``--steps`` steps, offline, Flyte local mode (benchmarks/_fanout_child.py);
- wandb's floor: the same tasks calling ``wandb.init`` / ``log`` / ``finish`` by hand (in ours' venv),
  with wandb's defaults and with ``x_save_requirements=False``.

Prints medians with [min, max] over the rounds of: ours / upstream wall time, per-child overhead
above the floor, and wandb-core's peak memory ours / upstream. Then checks what nothing may trade
away, in ours' runs: every run present with its id, every step logged, and each run's
requirements.txt identical to the one plain wandb writes in the same venv. Exits non-zero when a
check fails; timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _sidevenv
from _stats import ratios, spread, verdict

CHILD = Path(__file__).resolve().parent / "_fanout_child.py"
VARIANTS = ("ours", "upstream", "floor", "floor-noreq")


def _measure(python: Path, variant: str, n: int, steps: int, workdir: Path) -> dict:
    kind = "plugin" if variant in ("ours", "upstream") else variant
    cmd = [str(python), str(CHILD), "--variant", kind, "--n", str(n), "--steps", str(steps)]
    for attempt in (1, 2):
        # One run name per round and attempt: the same for every variant, so their run ids compare.
        name = f"fanout-{workdir.name.split('-')[0]}-{attempt}"
        args = ["--dir", str(workdir / str(attempt)), "--name", name]
        out = subprocess.run([*cmd, *args], capture_output=True, text=True)
        if out.returncode == 0:
            return {**json.loads(out.stdout.strip().splitlines()[-1]), "dir": workdir / str(attempt)}
        # Reported, then tried once more: a crash must be visible, not silently averaged away.
        print(out.stderr[-2000:], file=sys.stderr)
        print(f"{variant}: the fan-out run failed (exit {out.returncode}), attempt {attempt}", file=sys.stderr)
    raise SystemExit(f"{variant}: the fan-out run failed twice")


def _runs(workdir: Path) -> list:
    from flyteplugins.wandb_core.testing import read_offline_runs

    return [r for r in read_offline_runs(workdir / "wandb", wait=10.0) if r.project != "warmup"]


def _requirements(run: object) -> bytes | None:
    path = Path(run.path).parent / "files" / "requirements.txt"  # type: ignore[attr-defined]
    return path.read_bytes() if path.exists() else None


def _check(workdirs: dict[str, Path], n: int, steps: int) -> list[str]:
    """What nothing may trade away, from the runs ours and the floor wrote in the last round."""
    problems = []
    ours, floor, upstream = _runs(workdirs["ours"]), _runs(workdirs["floor"]), _runs(workdirs["upstream"])
    print(f"  runs written: ours {len(ours)}, upstream {len(upstream)}, floor {len(floor)} (expected {n + 1})")
    if len(ours) != n + 1 or len({r.id for r in ours}) != n + 1:
        ids = len({r.id for r in ours})
        problems.append(f"ours wrote {len(ours)} runs ({ids} ids), expected {n + 1}")
    # The parent logs nothing; each child logs `steps` rows.
    lost = n * steps - sum(len(r.history) for r in ours)
    unfinished = sum(1 for r in ours if r.exit_code != 0)
    print(f"  steps lost in ours: {lost} of {n * steps}; runs not finished with exit code 0: {unfinished}")
    if lost or unfinished:
        problems.append(f"{lost} steps lost, {unfinished} runs not cleanly finished")
    ids_ours, ids_up = sorted(r.id for r in ours), sorted(r.id for r in upstream)
    print(f"  run ids identical to upstream's: {'yes' if ids_ours == ids_up else 'NO'}")
    if ids_ours != ids_up:
        problems.append("run ids differ from upstream's")
    expected = {_requirements(r) for r in floor}
    got = [_requirements(r) for r in ours]
    same = len(expected) == 1 and None not in expected and all(g in expected for g in got)
    lines = len(next(iter(expected)).splitlines()) if len(expected) == 1 and None not in expected else 0
    recorded = sum(1 for r in ours if "requirements.txt" in r.files)
    print(
        f"  requirements.txt in every run of ours, byte-identical to plain wandb's ({lines} packages): "
        f"{'yes' if same else 'NO'}; recorded for upload (wandb sync) in {recorded}/{len(ours)} runs"
    )
    if not same or recorded != len(ours):
        problems.append("requirements.txt missing or different from wandb's own")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ours", type=Path, default=_sidevenv.ROOT, help="source tree of the plugin to measure")
    args = parser.parse_args()

    pythons = {"upstream": _sidevenv.upstream_venv(), "ours": _sidevenv.ours_venv(args.ours.resolve())}
    pythons["floor"] = pythons["floor-noreq"] = pythons["ours"]
    results: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="bench-fanout-") as tmp:
        workdirs: dict[str, Path] = {}
        for r in range(args.rounds):
            order = VARIANTS[r % len(VARIANTS) :] + VARIANTS[: r % len(VARIANTS)]
            for variant in order:
                res = _measure(pythons[variant], variant, args.n, args.steps, Path(tmp) / f"{r}-{variant}")
                workdirs[variant] = res["dir"]
                results[variant].append(res)
                print(
                    f"round {r} {variant:<11} wall {res['wall']:6.2f} s  wandb-core peak {res['core_peak_mb']:5.0f} MB",
                    flush=True,
                )
        walls = {v: [x["wall"] for x in results[v]] for v in VARIANTS}
        peaks = {v: [x["core_peak_mb"] for x in results[v]] for v in VARIANTS}
        n = args.n
        print()
        print(f"fan-out: {n} concurrent run_mode='new' children x {args.steps} steps, offline, {args.rounds} rounds")
        print("  wall time, s       " + "  ".join(f"{v} {spread(walls[v])}" for v in VARIANTS))
        wall_ratio = ratios(walls["ours"], walls["upstream"])
        print(f"  ours / upstream wall time: {spread(wall_ratio)} {verdict(statistics.median(wall_ratio), 0.8)}")
        print(
            f"  per child: ours {spread([w / n * 1000 for w in walls['ours']], '{:.0f}')} ms, "
            f"upstream {spread([w / n * 1000 for w in walls['upstream']], '{:.0f}')} ms"
        )
        for floor in ("floor", "floor-noreq"):
            over = [(a - b) / n * 1000 for a, b in zip(walls["ours"], walls[floor], strict=True)]
            print(
                f"  per-child overhead above {floor:<11}: {spread(over, '{:+.0f}')} ms "
                f"{verdict(statistics.median(over), 40)}"
            )
        peak_ratio = ratios(peaks["ours"], peaks["upstream"])
        print(
            f"  wandb-core peak MB: ours {spread(peaks['ours'], '{:.0f}')}, upstream "
            f"{spread(peaks['upstream'], '{:.0f}')}, floor {spread(peaks['floor'], '{:.0f}')}; "
            f"ours / upstream {spread(peak_ratio)} {verdict(statistics.median(peak_ratio), 1.2)}"
        )
        try:
            problems = _check(workdirs, n, args.steps)
        except ImportError as exc:
            print(f"  checks skipped ({exc}): run from the dev environment (flyteplugins.wandb_core.testing)")
            return 0
    for p in problems:
        print(f"CHECK FAILED: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
