"""Run Flyte actions the way a cluster runs them, each in its own process ("pod"), on this machine.

What is real here: every action is serialized with Flyte's own ``translate_task_to_wire`` (so its
container args, secrets and W&B links are the ones a cluster would get), its inputs (and with them the
``custom_context`` the parent hands down) are built by Flyte's converter, and the "pod" runs Flyte's
own task entrypoint, the ``a0`` command of ``flyte._bin.runtime``, on those container args (templates
filled by Flyte's ``replace_task_cli``). The runtime therefore builds the task context itself, in
non-local mode (``TaskContext.mode == "remote"``), loads the task through its resolver and uploads
outputs/errors as a pod does; an Elastic task takes the Elastic plugin's real ``elastic_launch`` path.

What stands in for the cluster (the glue, kept in test code on purpose, since none of it is plugin
behaviour):

- ``init_in_cluster`` (client + control-plane endpoint) becomes a plain ``flyte.init()``, with the
  endpoint when the node environment injects one (``_U_EP_OVERRIDE``);
- the remote controller (which would enqueue a child action with the control plane and wait for it)
  becomes :class:`PodController`, which starts the child's pod itself and waits for it;
- the platform's secret injection: each ``flyte.Secret(as_env_var=...)`` in the serialized spec's
  security context is set in the pod's environment from a local secret store (``FAKE_SECRETS``).

Usage from tests: :func:`run_root` (one run: the root action ``a0`` and, through the controller,
all of its children). Each action leaves ``pod.json`` (action name, rendered links, return code) and
``pod.log`` in its output directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PROJECT, DOMAIN, ORG = "flytesnacks", "development", "testorg"
# JSON {secret key: value}: the secrets the fake platform can inject into pods.
SECRETS_ENV = "CLUSTER_TEST_FAKE_SECRETS"
# Set in every pod: the test's output root, where actions and workers write what they observed.
RESULTS_ENV = "CLUSTER_TEST_RESULTS"
# JSON: the environment every pod starts from (the "node"), captured once per run by run_root. A child
# pod is started from its parent pod's process but must not inherit that process's environment: on a
# cluster it would not, and wandb puts the address of its service process there (WANDB_SERVICE).
NODE_ENV = "CLUSTER_TEST_NODE_ENV"
# Where the "cluster" keeps raw data (an object store URI such as s3://bucket/raw); unset, each action's
# raw data goes to a folder beside its outputs, as in replace_task_cli.
RAW_DATA_ENV = "CLUSTER_TEST_RAW_DATA"
# Never part of a pod's starting environment: a key reaches a pod only as an injected secret.
_NOT_INHERITED = ("WANDB_API_KEY", "WANDB_SERVICE", NODE_ENV, SECRETS_ENV)


def pod_simulation_supported() -> bool:
    """The simulator numbers child actions through ``TaskContext._call_counter`` (newer flyte releases)."""
    import dataclasses

    from flyte.models import TaskContext

    return "_call_counter" in {f.name for f in dataclasses.fields(TaskContext)}


# ------------------------------------------------------------------------------------------------
# Serialization: what the submitting side does
# ------------------------------------------------------------------------------------------------


def source_root(task: Any) -> Path:
    """The directory the task's module is importable from: the root its resolver path is relative to."""
    name = task.func.__module__
    return Path(sys.modules[name].__file__ or "").resolve().parents[name.count(".")]


def serialize(task: Any, task_context: Any, *, version: str = "v1", image_cache: Any = None) -> Any:
    """The task's wire spec, rendered with ``task_context`` (links use its run/action names)."""
    from flyte._internal.runtime.task_serde import translate_task_to_wire
    from flyte.models import SerializationContext

    action = task_context.action
    sc = SerializationContext(
        project=action.project,
        domain=action.domain,
        org=action.org,
        code_bundle=task_context.code_bundle,
        version=version,
        image_cache=image_cache if image_cache is not None else task_context.compiled_image_cache,
        root_dir=source_root(task),
    )
    return translate_task_to_wire(task, sc, task_context=task_context)


def submit_context(custom_context: dict[str, str], *, version: str = "v1") -> Any:
    """The task context ``flyte.run`` builds when it submits a run to a cluster (see ``flyte._run``)."""
    import flyte.report
    from flyte.models import ActionID, RawDataPath, TaskContext

    action = ActionID(name="{{.actionName}}", run_name="{{.runName}}", project=PROJECT, domain=DOMAIN, org=ORG)
    return TaskContext(
        action=action,
        output_path="",
        version=version,
        raw_data_path=RawDataPath(path=""),
        run_base_dir="",
        report=flyte.report.Report(name=action.name),
        custom_context=dict(custom_context),
    )


def render(template: str, *, run_name: str, action_name: str) -> str:
    """Fill the templates the backend fills in links and container args."""
    return template.replace("{{.runName}}", run_name).replace("{{.actionName}}", action_name)


# ------------------------------------------------------------------------------------------------
# Launching a pod
# ------------------------------------------------------------------------------------------------


def _pod_env(
    spec: Any, run_name: str, action_name: str, node: dict[str, str] | None = None, store: dict[str, str] | None = None
) -> dict[str, str]:
    """A pod's environment: the node's, the task's env_vars and the injected secrets.

    ``node``/``store`` default to what this process (a pod) was started with.
    """
    if node is None:
        node = json.loads(os.environ[NODE_ENV]) if NODE_ENV in os.environ else dict(os.environ)
    if store is None:
        store = json.loads(os.environ.get(SECRETS_ENV, "{}"))
    env = {k: v for k, v in node.items() if k not in _NOT_INHERITED}
    for kv in spec.task_template.container.env:
        env[kv.key] = kv.value
    for secret in spec.task_template.security_context.secrets:
        # flyteidl SecretMountType: ENV_VAR == 1. Only env-var secrets are injected (that is the path the
        # plugin reads); a secret the store lacks is simply not there, as on a misconfigured cluster.
        if secret.mount_requirement == 1 and secret.env_var and secret.key in store:
            env[secret.env_var] = store[secret.key]
    env.update(
        FLYTE_INTERNAL_EXECUTION_PROJECT=PROJECT,
        FLYTE_INTERNAL_EXECUTION_DOMAIN=DOMAIN,
        _U_ORG_NAME=ORG,
        RUN_NAME=run_name,
        ACTION_NAME=action_name,
        PYTHONPATH=node.get("PYTHONPATH") or str(HERE),
        PYTHONUNBUFFERED="1",
    )
    # Passed along so that this pod's controller can start child pods; the task body never reads them.
    env[NODE_ENV] = json.dumps(node)
    env[SECRETS_ENV] = json.dumps(store)
    return env


@dataclass
class Pod:
    action: str
    out_dir: Path
    returncode: int
    links: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def log(self) -> str:
        path = self.out_dir / "pod.log"
        return path.read_text()[-6000:] if path.exists() else "(no log)"


def pod_command(
    spec: Any, inputs: Any, out_dir: Path, *, run_name: str, action_name: str, run_base_dir: Path
) -> list[str]:
    from flyte._internal.runtime.taskrunner import replace_task_cli
    from flyte.models import ActionID

    action = ActionID(name=action_name, run_name=run_name, project=PROJECT, domain=DOMAIN, org=ORG)
    args = replace_task_cli(spec.task_template.container.args, inputs, out_dir, action)
    # replace_task_cli makes the action's own directory its run base; on a cluster every action of a run
    # shares the run's base directory (children's outputs live under it).
    args[args.index("--run-base-dir") + 1] = str(run_base_dir)
    raw = os.environ.get(RAW_DATA_ENV)
    if raw:  # the platform's per-action raw-data prefix in the cluster's store
        args[args.index("--raw-data-path") + 1] = f"{raw.rstrip('/')}/{run_name}/{action_name}"
    return [sys.executable, str(HERE / "cluster_pod.py"), *args]


def _start(spec: Any, inputs: Any, out_dir: Path, run_name: str, action_name: str, run_base_dir: Path):
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = pod_command(spec, inputs, out_dir, run_name=run_name, action_name=action_name, run_base_dir=run_base_dir)
    links = [(log.name, log.uri) for log in spec.task_template.metadata.log_links]
    (out_dir / "pod.json").write_text(json.dumps({"action": action_name, "links": links, "cmd": cmd}))
    log = open(out_dir / "pod.log", "wb")  # noqa: SIM115 - closed by _finish
    return cmd, links, log


def _finish(out_dir: Path, action_name: str, links: list[tuple[str, str]], rc: int, t0: float, log: Any) -> Pod:
    log.close()
    meta = json.loads((out_dir / "pod.json").read_text())
    meta["returncode"] = rc
    (out_dir / "pod.json").write_text(json.dumps(meta))
    return Pod(action=action_name, out_dir=out_dir, returncode=rc, links=links, seconds=time.time() - t0)


def run_pod(
    spec: Any,
    inputs: Any,
    out_dir: Path,
    *,
    run_name: str,
    action_name: str,
    run_base_dir: Path,
    node: dict[str, str],
    store: dict[str, str],
    timeout: float = 240,
    attempt: int = 0,
    sigterm_when: Path | None = None,
) -> Pod:
    cmd, links, log = _start(spec, inputs, out_dir, run_name, action_name, run_base_dir)
    t0 = time.time()
    env = _pod_env(spec, run_name, action_name, node, store)
    env["FLYTE_ATTEMPT_NUMBER"] = str(attempt)  # what the platform sets on each attempt's pod
    proc = subprocess.Popen(cmd, env=env, cwd=out_dir, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if sigterm_when is not None and sigterm_when.exists():
            # Kubernetes deleting the pod (preemption): SIGTERM, then the grace period.
            proc.send_signal(signal.SIGTERM)
            sigterm_when = None
        time.sleep(0.05)
    if proc.poll() is None:
        proc.kill()
    rc = proc.wait()
    return _finish(out_dir, action_name, links, rc, t0, log)


async def run_pod_async(
    spec: Any, inputs: Any, out_dir: Path, *, run_name: str, action_name: str, run_base_dir: Path
) -> Pod:
    cmd, links, log = _start(spec, inputs, out_dir, run_name, action_name, run_base_dir)
    t0 = time.time()
    proc = await asyncio.create_subprocess_exec(
        *cmd, env=_pod_env(spec, run_name, action_name), cwd=out_dir, stdout=log, stderr=subprocess.STDOUT
    )
    rc = await proc.wait()
    return _finish(out_dir, action_name, links, rc, t0, log)


async def read_result(task: Any, out_dir: Path) -> Any:
    """The action's outputs as Python values, or its error raised the way Flyte raises it."""
    from flyte._internal.runtime import convert, io

    err_file = Path(io.error_path(str(out_dir)))
    if err_file.exists():
        err = await io.load_error(str(err_file))
        exc = convert.convert_error_to_native(err)
        raise exc if exc is not None else RuntimeError(f"action failed: {err}")
    if not task.native_interface.outputs:
        return None
    outputs = await io.load_outputs(io.outputs_path(str(out_dir)))
    return await convert.convert_outputs_to_native(task.native_interface, outputs)


@dataclass
class RunResult:
    run_name: str
    root: Pod
    value: Any = None
    error: BaseException | None = None

    def pods(self) -> list[dict[str, Any]]:
        """Every action of the run (root first), from the ``pod.json`` files."""
        base = self.root.out_dir.parent
        found = [json.loads(p.read_text()) for p in base.rglob("pod.json")]
        return sorted(found, key=lambda pod: pod["action"] != "a0")

    def pod(self, action: str) -> dict[str, Any]:
        return next(p for p in self.pods() if p["action"] == action)

    def observations(self, prefix: str = "obs-") -> dict[str, dict[str, Any]]:
        """What the tasks recorded, by action name (or by file stem for other prefixes)."""
        base = self.root.out_dir.parent
        return {p.stem[len(prefix) :]: json.loads(p.read_text()) for p in base.glob(f"{prefix}*.json")}


def run_root(
    task: Any,
    *args: Any,
    run_name: str,
    base_dir: Path,
    custom_context: dict[str, str] | None = None,
    secrets: dict[str, str] | None = None,
    timeout: float = 240,
    attempt: int = 0,
    sigterm_when: Path | None = None,
    **kwargs: Any,
) -> RunResult:
    """Submit ``task`` as a new run named ``run_name`` and run it to completion in pods."""
    from flyte._internal.runtime import convert

    tctx = submit_context(custom_context or {})
    spec = serialize(task, tctx)
    inputs = asyncio.run(
        convert.convert_from_native_to_inputs(task.native_interface, *args, custom_context=custom_context, **kwargs)
    )
    base_dir.mkdir(parents=True, exist_ok=True)
    node = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
    node[RESULTS_ENV] = str(base_dir)
    # The "image": the task modules are importable in every pod (the code bundle's job on a cluster).
    paths = [str(HERE), str(source_root(task)), *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
    node["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(p for p in paths if p))
    root = run_pod(
        spec,
        inputs,
        base_dir / "a0",
        run_name=run_name,
        action_name="a0",
        run_base_dir=base_dir,
        node=node,
        store=dict(secrets or {}),
        timeout=timeout,
        attempt=attempt,
        sigterm_when=sigterm_when,
    )
    result = RunResult(run_name=run_name, root=root)
    if root.returncode != 0:
        result.error = RuntimeError(f"pod a0 exited {root.returncode}:\n{root.log()}")
        return result
    try:
        result.value = asyncio.run(read_result(task, root.out_dir))
    except Exception as exc:
        result.error = exc
    return result


@contextlib.contextmanager
def isolated_env(root: Path, **extra: str) -> Iterator[Path]:
    """The integration conftest's clean W&B environment, for module-scoped fixtures it does not reach."""
    names = (
        "WANDB_API_KEY",
        "WANDB_MODE",
        "WANDB_BASE_URL",
        "WANDB_PROJECT",
        "WANDB_ENTITY",
        "WANDB_RUN_ID",
        "WANDB_SWEEP_ID",
        "WANDB_SERVICE",
        "RANK",
        "WORLD_SIZE",
        "LOCAL_RANK",
        "LOCAL_WORLD_SIZE",
    )
    values = {
        "HOME": str(root),
        "WANDB_DIR": str(root),
        "WANDB_CONFIG_DIR": str(root / ".config" / "wandb"),
        "WANDB_CACHE_DIR": str(root / ".cache" / "wandb"),
        "WANDB_DISABLE_GIT": "true",
        "WANDB_CONSOLE": "off",
        "WANDB_SILENT": "true",
        **extra,
    }
    saved = {k: os.environ.get(k) for k in (*names, *values)}
    cwd = Path.cwd()
    for name in names:
        os.environ.pop(name, None)
    os.environ.update(values)
    os.chdir(root)
    try:
        yield root
    finally:
        os.chdir(cwd)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# ------------------------------------------------------------------------------------------------
# Inside a pod
# ------------------------------------------------------------------------------------------------


def _controller_class() -> type:
    from flyte._context import internal_ctx
    from flyte._internal.controllers._local_controller import LocalController
    from flyte._internal.runtime import convert

    class PodController(LocalController):  # type: ignore[misc]
        """Submits each child action as its own pod and waits for it (the remote controller's job)."""

        async def submit(self, _task: Any, *args: Any, **kwargs: Any) -> Any:
            ctx = internal_ctx()
            tctx = ctx.data.task_context
            with ctx.new_in_driver_literal_conversion(True):
                # Inside a task this reads the parent's custom_context: what the child receives.
                inputs = await convert.convert_from_native_to_inputs(_task.native_interface, *args, **kwargs)
            # Rendered with the parent's context at submit time, as the remote controller does.
            spec = serialize(_task, tctx, version=tctx.version)
            identity = convert.generate_task_identity_hash(spec.task_template)
            inputs_hash = convert.generate_inputs_hash_from_proto(inputs.proto_inputs)
            group = tctx.group_data.name if tctx.group_data else ""
            seq = tctx._call_counter.next(f"{identity}:{inputs_hash}:{group}")
            sub_id, sub_path = convert.generate_sub_action_id_and_output_path(tctx, identity, inputs_hash, seq)
            pod = await run_pod_async(
                spec,
                inputs,
                Path(sub_path),
                run_name=tctx.action.run_name,
                action_name=sub_id.name,
                run_base_dir=Path(tctx.run_base_dir),
            )
            if pod.returncode != 0:
                raise RuntimeError(f"pod {sub_id.name} exited {pod.returncode}:\n{pod.log()}")
            return await read_result(_task, Path(sub_path))

    return PodController


def _install_local_platform() -> None:
    import flyte
    import flyte._initialize as flyte_initialize
    import flyte._internal.controllers as controllers

    def init_in_cluster(
        org: str | None = None, project: str | None = None, domain: str | None = None, **_: Any
    ) -> dict[str, Any]:
        # The platform injects the control plane's endpoint as _U_EP_OVERRIDE; with it the pod gets a
        # client (never contacted here), whose console builds the actions' URLs.
        endpoint = os.environ.get("_U_EP_OVERRIDE")
        extra: dict[str, Any] = {"endpoint": endpoint, "insecure": True} if endpoint else {}
        flyte.init(org=org, project=project, domain=domain, root_dir=Path.cwd(), **extra)
        return {}

    def create_controller(ct: str, **_: Any) -> Any:
        controller = _controller_class()()
        with controllers._ControllerState.lock:
            controllers._ControllerState.controller = controller
        return controller

    # `flyte._bin.runtime._run_action` imports both names at call time, so patching the modules is enough.
    flyte_initialize.init_in_cluster = init_in_cluster  # type: ignore[assignment]
    controllers.create_controller = create_controller  # type: ignore[assignment]


def main(argv: list[str]) -> None:
    _install_local_platform()
    from flyte._bin.runtime import _pass_through

    _pass_through.main(args=argv, prog_name="pyflyte-runtime", standalone_mode=True)


if __name__ == "__main__":  # guarded: Elastic workers (spawn) re-import this file as __mp_main__
    main(sys.argv[1:])
