"""The live W&B API key never travels: refused in every place, and absent from every artefact.

A known fake ``WANDB_API_KEY`` is set; every way of handing it to the plugin is tried (each must be
refused without echoing it); then real tracked workflows run with the key in the environment (offline,
and online against the loopback W&B server) and every artefact is searched for it: run folders, the
``.wandb`` transaction logs, config.yaml, debug logs, the report HTML Flyte wrote, the tasks'
custom_context, the UI links, what the server stored, the errors, stdout and stderr. Expected: 0 hits.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import flyte
import pytest

from flyteplugins.wandb import WandbConfigError, get_wandb_run, wandb_config, wandb_init
from flyteplugins.wandb.testing import read_offline_runs
from flyteplugins.wandb_core._link import Wandb
from flyteplugins.wandb_sweeps import wandb_sweep, wandb_sweep_config

pytestmark = pytest.mark.integration

KEY = "fakekey0flyteplugins0" + "9f8e7d6c5b4a39281706"  # 41 characters, shaped like a W&B key
FLYTE_LOCAL = (Path("/tmp/flyte/metadata"), Path("/tmp/flyte/raw_data"))
env = flyte.TaskEnvironment(name="secret_never_travels")
# Where each task saw itself: its custom_context and the link the Flyte UI would show.
SEEN: list[dict[str, Any]] = []


def _record(task: Any) -> None:
    ctx = flyte.ctx()
    context = dict(ctx.custom_context or {})
    [link] = [link for link in task.links if isinstance(link, Wandb)]
    url = link.get_link(
        run_name=ctx.action.run_name,
        project="flyte",
        domain="development",
        context=context,
        parent_action_name="",
        action_name=ctx.action.name,
        pod_name="",
    )
    SEEN.append({"custom_context": context, "link": url})


@wandb_init
@env.task
async def child(n: int) -> None:
    _record(child)
    for i in range(n):
        get_wandb_run().log({"child/loss": 1.0 / (i + 1)})


@wandb_init(project="secrets", config={"lr": 0.1, "pad_token": "<pad>", "nested": {"rng_key": 7}}, tags=["ok"])
@env.task(report=True)
async def parent() -> str:
    _record(parent)
    run = get_wandb_run()
    for step in range(5):
        run.log({"loss": 1.0 / (step + 1)})
    print(f"training with run {run.id}")
    await asyncio.gather(child(2), child(3))
    return str(run.id)


def _attempts() -> list[tuple[str, Callable[[], Any]]]:
    """Every place a value would travel to W&B or through Flyte's custom_context."""
    places: list[tuple[str, dict[str, Any]]] = [
        ("config", {"config": {"wandb": KEY}}),
        ("config at depth", {"config": {"a": [{"b": {"c": KEY}}]}}),
        ("config inside a string", {"config": {"cmd": f"--key {KEY} --lr 0.1"}}),
        ("config key", {"config": {KEY: True}}),
        ("tags", {"tags": [KEY]}),
        ("notes", {"notes": f"key is {KEY}"}),
        ("name", {"name": KEY}),
        ("group", {"group": KEY}),
        ("job_type", {"job_type": KEY}),
        ("id", {"id": KEY}),
        ("project", {"project": KEY}),
        ("host", {"host": f"https://u:{KEY}@wandb.example.com"}),
        ("settings", {"settings": {"run_notes": KEY}}),
        ("settings api_key", {"settings": {"api_key": KEY}}),
    ]
    out: list[tuple[str, Callable[[], Any]]] = []
    for place, kwargs in places:
        out.append((f"wandb_config {place}", lambda kw=kwargs: wandb_config(**kw)))
        out.append((f"@wandb_init {place}", lambda kw=kwargs: wandb_init(**kw)))
    out += [
        ("wandb_sweep_config parameters", lambda: wandb_sweep_config(method="grid", parameters={"x": {"value": KEY}})),
        ("wandb_sweep_config description", lambda: wandb_sweep_config(description=f"k={KEY}")),
        ("@wandb_sweep name", lambda: wandb_sweep(name=KEY)),
        ("@wandb_init positional", lambda: wandb_init(KEY)),
    ]
    return out


def _files(roots: list[Path]) -> Iterator[Path]:
    for root in roots:
        if root.is_file():
            yield root
        elif root.is_dir():
            yield from (p for p in root.rglob("*") if p.is_file())


def _hits(roots: list[Path], texts: list[str]) -> list[str]:
    needle = KEY.encode()
    found = [str(p) for p in _files(roots) if needle in p.read_bytes()]
    return found + [f"text #{i}" for i, t in enumerate(texts) if KEY in t]


@pytest.fixture
def run_name() -> Iterator[str]:
    name = f"secret-{uuid.uuid4().hex[:8]}"
    yield name
    for root in FLYTE_LOCAL:
        shutil.rmtree(root / name, ignore_errors=True)


def _refusals() -> list[str]:
    messages = []
    for label, attempt in _attempts():
        with pytest.raises(WandbConfigError) as info:
            attempt()
        messages.append(f"{label}: {info.value!s} {info.value!r}")
    return messages


def _hand_written_context_is_refused(run_name: str, marker: Path) -> str:
    @wandb_init
    @env.task
    async def victim() -> None:
        marker.write_text("ran")

    # Keys in the existing plugin's layout, written without wandb_config (so never checked there).
    context = {"wandb_tags": json.dumps(["fine", KEY]), "wandb_mode": "offline"}
    with pytest.raises(Exception) as info:
        flyte.with_runcontext(mode="local", name=f"{run_name}-hand", custom_context=context).run(victim)
    assert "contains the W&B API key" in str(info.value)
    assert not marker.exists(), "the task body ran with the key in its settings"
    return f"{info.value!s} {info.value!r}"


def test_offline_the_key_is_refused_everywhere_and_found_nowhere(
    run_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WANDB_API_KEY", KEY)
    monkeypatch.setenv("WANDB_MODE", "offline")  # with a key set wandb would otherwise go online
    SEEN.clear()
    texts = _refusals()
    texts.append(_hand_written_context_is_refused(run_name, tmp_path / "victim-ran"))

    out = flyte.with_runcontext(mode="local", name=run_name, custom_context=wandb_config(group="g", entity="team")).run(
        parent
    )
    run_id = out.outputs()[0]
    [run] = [r for r in read_offline_runs(tmp_path / "wandb") if r.id == run_id]
    assert sorted(run.metric("child/loss")) == sorted([1.0, 0.5, 1.0, 0.5, 1.0 / 3])
    assert run.config["pad_token"] == "<pad>"  # ordinary settings are not mistaken for secrets

    artefacts = sorted(p.name for p in _files([tmp_path / "wandb"]))
    # Offline, wandb writes the transaction log and debug logs (config.yaml appears with online runs).
    assert any(n.endswith(".wandb") for n in artefacts) and {"debug.log", "debug-internal.log"} <= set(artefacts)
    reports = list((FLYTE_LOCAL[0] / run_name).rglob("report.html"))
    assert reports, "the report tab was not written"
    assert len(SEEN) == 3 and all("/runs/" in s["link"] for s in SEEN)

    captured = capfd.readouterr()
    texts += [json.dumps(SEEN), captured.out, captured.err]
    roots = [tmp_path, *(root / run_name for root in FLYTE_LOCAL), *(root / f"{run_name}-hand" for root in FLYTE_LOCAL)]
    assert _hits(roots, texts) == []


def test_online_the_server_never_receives_the_key(
    wandb_server: Any, run_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WANDB_API_KEY", KEY)  # the loopback server accepts any key
    SEEN.clear()
    texts = _refusals()

    out = flyte.with_runcontext(
        mode="local", name=run_name, custom_context=wandb_config(mode="online", entity="team")
    ).run(parent)
    run_id = out.outputs()[0]
    stored = wandb_server.run(run_id)
    assert stored.exit_code == 0 and stored.raw_config
    artefacts = {p.name for p in _files([tmp_path / "wandb"])}
    assert {"config.yaml", "wandb-metadata.json", "debug.log"} <= artefacts, artefacts
    for record in wandb_server.runs():
        fields = dataclasses.asdict(record) if dataclasses.is_dataclass(record) else vars(record)
        files = fields.pop("files", {}) or {}
        texts.append(json.dumps(fields, default=str))
        texts += [bytes(v).decode("utf-8", "replace") for v in files.values()]
    assert any(t for t in texts if "loss" in t), "the server stored nothing to search"

    captured = capfd.readouterr()
    texts += [json.dumps(SEEN), captured.out, captured.err]
    assert _hits([tmp_path, *(root / run_name for root in FLYTE_LOCAL)], texts) == []
