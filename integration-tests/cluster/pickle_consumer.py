"""Loads what ``pickle_producer.py`` wrote, in a process where that script cannot be imported, and runs it.

1. the unpickled task in a Flyte local run;
2. the unpickled ``task.func`` inside a non-local task context, the way flyteplugins-pytorch's
   ``launcher_entrypoint`` calls it in an Elastic worker (``flyte.init`` then
   ``internal_ctx().replace_task_context(tctx)`` then ``func(**kwargs)``); the context is built like
   Flyte's pod runtime builds it (``mode="remote"``);
3. the unpickled async task in a Flyte local run.
Prints one JSON line with the results.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import cloudpickle
import flyte
import flyte.report
from flyte._context import internal_ctx
from flyte.models import ActionID, RawDataPath, TaskContext

from flyteplugins.wandb_core._decorator import MARKER

# This script sits next to the producer: take its directory off the path, as in a worker elsewhere.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
src = Path(sys.argv[1])
assert importlib.util.find_spec("pickle_producer") is None, "the producer must not be importable here"

task = cloudpickle.loads((src / "task.pkl").read_bytes())
func = cloudpickle.loads((src / "func.pkl").read_bytes())
atask = cloudpickle.loads((src / "atask.pkl").read_bytes())

flyte.init()
local = flyte.with_runcontext(mode="local", name="pk-local").run(task, 3)
alocal = flyte.with_runcontext(mode="local", name="pk-async").run(atask, 5)

action = ActionID(name="a0", run_name="pk-remote", project="p", domain="d", org="o")
tctx = TaskContext(
    action=action,
    version="v1",
    raw_data_path=RawDataPath(path=str(Path.cwd() / "raw")),
    output_path=str(Path.cwd() / "out"),
    run_base_dir=str(Path.cwd() / "out"),
    report=flyte.report.Report(name=action.name),
    mode="remote",
)
with internal_ctx().replace_task_context(tctx):
    remote = func(x=4)

print(
    json.dumps(
        {
            "marker": getattr(task.func, MARKER),
            "func_marker": getattr(func, MARKER),
            "links": [[type(link).__name__, link.project] for link in task.links],
            "local": local.outputs()[0] if hasattr(local, "outputs") else None,
            "alocal": alocal.outputs()[0] if hasattr(alocal, "outputs") else None,
            "remote": remote,
        }
    )
)
