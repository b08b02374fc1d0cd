"""Follow ``run_mode`` from ``@wandb_init`` to the finished run: which plugin modules it passes through.

Decorates and runs, offline in a temporary directory, one Flyte local-mode task tracked with
``@wandb_init(run_mode="new")``, under
``sys.setprofile`` (every thread). A call into a ``flyteplugins.*`` module is on the path when one of
its arguments, or of its locals by the time it returns, carries the run mode: a variable named
``run_mode``, or a mapping holding a ``run_mode`` key (the settings) or a ``wandb_run_mode`` key
(Flyte's custom_context).

Prints the modules in the order the path enters them (consecutive calls in one module count once),
the number of distinct modules, and the returns: entries into a module the path has already left.

    uv run python scripts/trace_run_mode.py [-v] [--plan]

``-v`` lists every call on the path (module.function); ``--plan`` also follows what run_mode became,
the ``RunPlan`` and the ``ActiveRun`` opened from it, through opening, exposing and finishing the run.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Mapping
from inspect import CO_OPTIMIZED
from types import CodeType, FrameType
from typing import Any

KEYS = ("run_mode", "wandb_run_mode")
# With --plan, the decision run_mode turned into counts too: the plan and the run opened from it.
PLAN_TYPES = ("RunPlan", "ActiveRun")
WITH_PLAN = "--plan" in sys.argv


def _carries(frame: FrameType) -> bool:
    # At a call event a frame's locals are exactly the call's arguments; at its return, all of them.
    for name, value in frame.f_locals.items():
        if name == "run_mode" and value is not None:
            return True
        if isinstance(value, Mapping) and any(k in value for k in KEYS):
            return True
        if WITH_PLAN and type(value).__name__ in PLAN_TYPES:
            return True
    return False


def trace(body: Any) -> list[tuple[str, str]]:
    """(module, function) of each plugin call, in call order, that ``body()`` makes with the run mode
    in its arguments or, by the time it returns, in its locals."""
    calls: list[list[Any]] = []  # [module, function, carries]
    frames: dict[tuple[int, CodeType], int] = {}
    lock = threading.Lock()

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event not in ("call", "return"):
            return
        module = frame.f_globals.get("__name__", "")
        code = frame.f_code
        # Function bodies only: a class body (a field named run_mode) runs at import, and a
        # comprehension is part of the function that holds it.
        if not module.startswith("flyteplugins.") or not code.co_flags & CO_OPTIMIZED or code.co_name[0] == "<":
            return
        # A coroutine's frame gets a call event at each resume: it is one call, on the path once.
        key = (id(frame), code)
        with lock:
            index = frames.get(key)
            if index is None:
                frames[key] = len(calls)
                calls.append([module, code.co_name, _carries(frame)])
            elif event == "return" and not calls[index][2]:
                calls[index][2] = _carries(frame)

    threading.setprofile(profile)
    sys.setprofile(profile)
    try:
        body()
    finally:
        sys.setprofile(None)
        threading.setprofile(None)  # type: ignore[arg-type]
    return [(module, function) for module, function, carries in calls if carries]


def _run_tasks() -> None:
    # Imported under the profiler: the threads Flyte starts (its loop thread among them) inherit it.
    import flyte

    flyte.init()

    from flyteplugins.wandb import get_wandb_run, wandb_init

    env = flyte.TaskEnvironment(name="trace_run_mode")

    @wandb_init(run_mode="new")
    @env.task
    async def train(x: int) -> int:
        get_wandb_run().log({"x": x})
        return x

    flyte.with_runcontext(mode="local", name="trace").run(train, 1)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        os.environ.update(WANDB_DIR=tmp, WANDB_MODE="offline", WANDB_SILENT="true", WANDB_CONSOLE="off", HOME=tmp)
        calls = trace(_run_tasks)
    if "-v" in sys.argv:
        print("\n".join(f"{module}.{function}" for module, function in calls))
    modules = [module for module, _ in calls]
    path = [m for i, m in enumerate(modules) if i == 0 or modules[i - 1] != m]
    returns = Counter(m for i, m in enumerate(path) if m in path[:i])
    print("path:", " -> ".join(m.removeprefix("flyteplugins.") for m in path))
    print(f"distinct modules: {len(set(path))}")
    print(f"returns to a module already visited: {sum(returns.values())}", dict(returns.most_common()))


if __name__ == "__main__":
    main()
