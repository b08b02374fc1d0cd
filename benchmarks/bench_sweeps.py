"""Sweep efficiency: ideal wall time / actual, for trials of a fixed-length objective, offline and online.

    uv run python benchmarks/bench_sweeps.py [--trials 20] [--sleep 1.0] [--rounds 3] [--skip-online]

Every trial's objective sleeps ``--sleep`` seconds and logs one metric; a sweep task runs
``run_sweep_agents(objective, count=trials, agents=K)`` (the public API, whatever drives it) in
Flyte local mode in this process. The ideal wall time of that call is ``ceil(trials / K) * sleep``
(every trial costing only its objective); efficiency = ideal / measured, 1.0 being perfect.

Configurations, interleaved round by round so machine load hits each alike:

- offline, 20 agents (target >= 0.8) and 10 agents (target >= 0.85): W&B's sweep engine in the task;
- online, 20 agents (target >= 0.7): against the loopback W&B server (``wandb_loopback``, from
  flyteplugins-wandb-testing) in a process of its own, like a real server, ``--poll`` heartbeat.

Each round also measures wandb's floor for the same configuration: the same trials as plain
``wandb.init`` / ``log`` / ``finish`` calls in ``K`` threads taking trials from a queue, with no
Flyte, no sweep engine and no requirements scan (``x_save_requirements=False``; the plugin scans
once per process). ``ours / floor`` compares the two: above 1 because a trial's objective starts
while its run opens (core's ``_concurrency``), which plain wandb calls cannot do; what remains is mostly
wandb finishing K runs at once.

Prints each efficiency as median [min, max] over the rounds. Timings are reported, never asserted;
the script fails (instead of skipping) when the online part cannot run, unless ``--skip-online``.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("WANDB_CONSOLE", "off")
os.environ.setdefault("WANDB_DISABLE_GIT", "true")

import flyte
from _stats import spread, verdict

from flyteplugins.wandb import (
    get_wandb_run,
    run_sweep_agents,
    wandb_config,
    wandb_init,
    wandb_sweep,
    wandb_sweep_config,
)

env = flyte.TaskEnvironment(name="bench_sweeps")
SETTINGS: dict = {"sleep": 1.0, "poll": 2.0}
MEASURED: list[float] = []

SWEEP = dict(method="random", metric={"name": "loss", "goal": "minimize"}, parameters={"x": {"min": 0.0, "max": 1.0}})
CONFIGS = (("offline", 20, 0.8), ("offline", 10, 0.85), ("online", 20, 0.7))


@wandb_init
def objective() -> None:
    run = get_wandb_run()
    time.sleep(SETTINGS["sleep"])
    run.log({"loss": (run.config["x"] - 0.3) ** 2})


@wandb_sweep
@env.task
async def sweep_task(trials: int, agents: int) -> int:
    # Timed inside the task: the sweep's own wall time, without Flyte's run start-up around it.
    start = time.perf_counter()
    result = await run_sweep_agents.aio(objective, count=trials, agents=agents, poll_interval=SETTINGS["poll"])
    MEASURED.append(time.perf_counter() - start)
    return len(result.trials)


def _run(mode: str, trials: int, agents: int, name: str) -> float:
    ctx = {**wandb_config(project="bench-sweeps", mode=mode), **wandb_sweep_config(**SWEEP)}
    done = flyte.with_runcontext(mode="local", name=name, custom_context=ctx).run(sweep_task, trials, agents)
    finished = done.outputs()[0] if hasattr(done, "outputs") else trials
    if finished != trials:
        raise SystemExit(f"{name}: {finished} of {trials} trials reported")
    return MEASURED[-1]


def _floor(mode: str, trials: int, agents: int, tag: str) -> float:
    """Wall time of the same trials as plain wandb calls in ``agents`` threads (no Flyte, no engine)."""
    import queue
    import random
    import threading

    import wandb

    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for i in range(trials):
        todo.put(i)

    def agent() -> None:
        while True:
            try:
                i = todo.get_nowait()
            except queue.Empty:
                return
            run = wandb.init(
                project="bench-sweeps-floor",
                id=f"{tag}-{i:03d}",
                group=tag,
                config={"x": random.random()},
                mode=mode,
                reinit="create_new",
                settings=wandb.Settings(x_save_requirements=False),
            )
            time.sleep(SETTINGS["sleep"])
            run.log({"loss": (run.config["x"] - 0.3) ** 2})
            run.finish()

    threads = [threading.Thread(target=agent) for _ in range(agents)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def _server():
    try:
        from wandb_loopback import LoopbackProcess
    except ImportError:
        for extra in ("packages/flyteplugins-wandb-testing/src", "integration-tests"):
            sys.path.insert(0, str(Path(__file__).resolve().parents[1] / extra))
        try:
            from wandb_loopback import LoopbackProcess
        except ImportError as exc:
            raise SystemExit(
                f"online part needs the loopback W&B server ({exc}); install flyteplugins-wandb-testing "
                "(nox -s bench does), or pass --skip-online"
            ) from exc
    return LoopbackProcess().start()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--sleep", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--poll", type=float, default=0.5, help="online heartbeat (poll_interval), seconds")
    parser.add_argument("--skip-online", action="store_true")
    args = parser.parse_args()
    SETTINGS.update(sleep=args.sleep, poll=args.poll)
    os.chdir(tempfile.mkdtemp(prefix="bench-sweeps-"))
    os.environ["WANDB_DIR"] = os.getcwd()
    configs = [c for c in CONFIGS if not (args.skip_online and c[0] == "online")]
    server = None
    if any(c[0] == "online" for c in configs):
        server = _server()
        os.environ.update(server.env())
    flyte.init()
    try:
        # Imports, wandb's service, the sweep engine, the package scan: outside the timings.
        for mode in sorted({c[0] for c in configs}):
            _run(mode, 2, 2, f"warm-{mode}")
        _floor(configs[0][0], 2, 2, "floor-warm")
        eff: dict[tuple[str, int], list[float]] = {c[:2]: [] for c in configs}
        floor_eff: dict[tuple[str, int], list[float]] = {c[:2]: [] for c in configs}
        kept: dict[tuple[str, int], list[float]] = {c[:2]: [] for c in configs}
        for r in range(args.rounds):
            for mode, agents, _ in configs[r % len(configs) :] + configs[: r % len(configs)]:
                ideal = math.ceil(args.trials / agents) * args.sleep
                # Ours and the floor back to back, alternating which goes first: load hits both alike.
                pair = ("ours", "floor") if r % 2 == 0 else ("floor", "ours")
                walls = {}
                for which in pair:
                    if which == "ours":
                        walls[which] = _run(mode, args.trials, agents, f"{mode}-{agents}-{r}")
                    else:
                        walls[which] = _floor(mode, args.trials, agents, f"floor-{mode}-{agents}-{r}")
                eff[(mode, agents)].append(ideal / walls["ours"])
                floor_eff[(mode, agents)].append(ideal / walls["floor"])
                kept[(mode, agents)].append(walls["floor"] / walls["ours"])
                print(
                    f"round {r} {mode:<7} {agents:2d} agents: {walls['ours']:6.2f} s, wandb floor "
                    f"{walls['floor']:6.2f} s (ideal {ideal:.1f} s)",
                    flush=True,
                )
    finally:
        if server is not None:
            server.stop()
    print()
    print(f"sweep efficiency (ideal / actual wall time), {args.trials} trials x {args.sleep:g} s, {args.rounds} rounds")
    for mode, agents, target in configs:
        values = eff[(mode, agents)]
        extra = f", heartbeat {args.poll:g} s" if mode == "online" else ""
        print(
            f"  {mode:<7} {agents:2d} agents{extra}: {spread(values)} "
            f"{verdict(statistics.median(values), target, at_most=False)}; "
            f"wandb floor {spread(floor_eff[(mode, agents)])}, ours / floor {spread(kept[(mode, agents)])}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
