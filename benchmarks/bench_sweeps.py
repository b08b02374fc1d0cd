"""Sweep wall time: 10 parallel agent tasks vs 1 agent, offline and online.

    uv run python benchmarks/bench_sweeps.py [--trials 20] [--sleep 1.0] [--agents 10] [--skip-online]

Every trial's objective sleeps ``--sleep`` seconds and logs one metric. All runs are Flyte local
mode in this process.

- offline: ``run_sweep_agents(count=N, agents=K)`` vs the same call with ``agents=1``; the controller
  is the in-task one built on W&B's `sweeps` engine.
- online (against the loopback W&B server from integration-tests/wandb_loopback): ``agents=K`` vs
  the one-task loop the existing plugin's docs show, ``wandb.agent(sweep_id, function=objective,
  count=N)`` inside the ``@wandb_sweep`` task (with wandb's default 5 s heartbeat, and with 0.2 s),
  and vs ``agents=1``.

Prints each wall time and the speedup ratios (baseline / K agents). The ideal ratio is K; trial
start-up and finish are serialised by wandb.init's lock, so expect less on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("WANDB_CONSOLE", "off")
os.environ.setdefault("WANDB_DISABLE_GIT", "true")

import flyte

from flyteplugins.wandb import (
    get_wandb_run,
    get_wandb_sweep_id,
    run_sweep_agents,
    wandb_config,
    wandb_init,
    wandb_sweep,
    wandb_sweep_config,
)

env = flyte.TaskEnvironment(name="bench_sweeps")
SETTINGS: dict = {"sleep": 1.0, "trials": 20, "agents": 10, "poll": 2.0}


@wandb_init
def objective() -> None:
    run = get_wandb_run()
    time.sleep(SETTINGS["sleep"])
    run.log({"loss": (run.config["x"] - 0.3) ** 2})


@wandb_sweep
@env.task
async def sweep_agents(agents: int) -> int:
    result = await run_sweep_agents.aio(
        objective, count=SETTINGS["trials"], agents=agents, poll_interval=SETTINGS["poll"]
    )
    return len(result.trials)


@wandb_sweep
@env.task
def sweep_wandb_agent_loop() -> int:
    import wandb

    # The loop the existing plugin's docs show: one task, wandb.agent with count=N.
    wandb.agent(get_wandb_sweep_id(), function=objective, count=SETTINGS["trials"], project="bench-sweeps")
    return SETTINGS["trials"]


SWEEP = dict(
    method="random", metric={"name": "loss", "goal": "minimize"}, parameters={"x": {"min": 0.0, "max": 1.0}}
)


def timed(task, name: str, context: dict, *args) -> float:
    start = time.perf_counter()
    flyte.with_runcontext(mode="local", name=name, custom_context=context).run(task, *args)
    return time.perf_counter() - start


def bench_offline(agents: int) -> None:
    ctx = {**wandb_config(mode="offline", project="bench-sweeps"), **wandb_sweep_config(**SWEEP)}
    trials = SETTINGS["trials"]
    SETTINGS["trials"] = 2
    timed(sweep_agents, "warmup", ctx, 2)  # wandb service, sweeps engine and sklearn imports
    SETTINGS["trials"] = trials
    one = timed(sweep_agents, "offline-1", ctx, 1)
    many = timed(sweep_agents, f"offline-{agents}", ctx, agents)
    print(
        f"offline: {trials} trials x {SETTINGS['sleep']}s: 1 agent {one:.2f}s, {agents} agents {many:.2f}s, "
        f"speedup {one / many:.2f}x"
    )


def bench_online(agents: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration-tests"))
    try:
        from wandb_loopback import LoopbackServer  # type: ignore[import-not-found]
    except ImportError:
        print("online: skipped (integration-tests/wandb_loopback is not available)")
        return
    import wandb.agents.pyagent as pyagent

    server = LoopbackServer().start()
    try:
        os.environ.update(server.env())
        os.environ.pop("WANDB_MODE", None)
        ctx = {**wandb_config(project="bench-sweeps"), **wandb_sweep_config(**SWEEP)}
        trials = SETTINGS["trials"]
        SETTINGS["trials"], SETTINGS["poll"] = 2, 0.5
        timed(sweep_agents, "on-warmup", ctx, 2)
        SETTINGS["trials"] = trials
        many = timed(sweep_agents, f"on-{agents}", ctx, agents)
        one = timed(sweep_agents, "on-1", ctx, 1)
        loop_default = timed(sweep_wandb_agent_loop, "on-loop5", ctx)
        saved = pyagent.Agent.HEARTBEAT_SLEEP_SECONDS
        pyagent.Agent.HEARTBEAT_SLEEP_SECONDS = 0.2
        try:
            loop_fast = timed(sweep_wandb_agent_loop, "on-loop02", ctx)
        finally:
            pyagent.Agent.HEARTBEAT_SLEEP_SECONDS = saved
        print(
            f"online: {trials} trials x {SETTINGS['sleep']}s: {agents} agents {many:.2f}s; "
            f"wandb.agent loop in one task {loop_default:.2f}s (5 s heartbeat) / {loop_fast:.2f}s "
            f"(0.2 s heartbeat); 1 agent {one:.2f}s"
        )
        print(
            f"online speedup, {agents} agents vs the wandb.agent loop: {loop_default / many:.2f}x "
            f"(5 s heartbeat), {loop_fast / many:.2f}x (0.2 s heartbeat); vs 1 agent: {one / many:.2f}x"
        )
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--sleep", type=float, default=1.0)
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--skip-online", action="store_true")
    parser.add_argument("--skip-offline", action="store_true")
    args = parser.parse_args()
    SETTINGS.update(trials=args.trials, sleep=args.sleep)
    os.chdir(tempfile.mkdtemp(prefix="bench-sweeps-"))
    os.environ["WANDB_DIR"] = os.getcwd()
    flyte.init()
    if not args.skip_offline:
        bench_offline(args.agents)
    if not args.skip_online:
        bench_online(args.agents)


if __name__ == "__main__":
    main()
