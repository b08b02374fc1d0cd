"""Pure parts of the loopback server: selection-set projection, run filters, shared-mode merging."""

from __future__ import annotations

import json

import pytest
from wandb_loopback.filters import matches, order_runs
from wandb_loopback.projector import Operation
from wandb_loopback.store import RunRecord, Store, _Writer


def test_projection_follows_aliases_fragments_directives_and_arguments() -> None:
    query = """
    query Q($name: String!, $withTail: Boolean!) {
      project(name: $name) {
        renamed: name
        run(name: "r1") { ...F  tail @include(if: $withTail)  hidden @skip(if: true) }
      }
    }
    fragment F on Run { id ... on Run { state } missing }
    """
    seen = {}

    def run(name: str) -> dict:
        seen["name"] = name
        return {"id": "x", "state": "finished", "tail": "[]", "hidden": 1}

    op = Operation(query, "", {"name": "p", "withTail": False})
    assert op.name == "Q" and op.kind == "query"
    out = op.project({"project": lambda name: {"name": name, "run": run}})
    assert out == {"project": {"renamed": "p", "run": {"id": "x", "state": "finished", "missing": None}}}
    assert seen == {"name": "r1"}


def test_projection_maps_lists_and_nulls() -> None:
    op = Operation("{ a { b } c { d } e }", None, None)
    assert op.project({"a": [{"b": 1, "x": 2}, None], "c": None, "e": {"raw": True}}) == {
        "a": [{"b": 1}, None],
        "c": None,
        "e": {"raw": True},
    }


def _run(name: str, **kw) -> RunRecord:
    run = RunRecord(entity="e", project="p", id=name, internal_id=1)
    for key, value in kw.items():
        setattr(run, key, value)
    return run


RUNS = [
    _run("a", raw_config={"lr": {"value": 0.1}, "opt": {"value": {"name": "adam"}}}, sweep="s1", tags=["x"]),
    _run("b", raw_config={"lr": {"value": 0.2}}, sweep="s1", state="finished", tags=["y"]),
    _run("c", raw_config={"lr": {"value": 0.3}}, sweep="s2", display_name="Cee"),
]


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({}, ["a", "b", "c"]),
        ({"sweep": "s1"}, ["a", "b"]),
        ({"$and": [{"sweep": "s1"}, {"state": "finished"}]}, ["b"]),
        ({"config.lr": {"$gt": 0.15}}, ["b", "c"]),
        ({"config.lr.value": {"$lte": 0.2}}, ["a", "b"]),
        ({"config.opt.name": "adam"}, ["a"]),
        ({"$or": [{"tags": "x"}, {"display_name": "Cee"}]}, ["a", "c"]),
        ({"tags": {"$in": ["y"]}}, ["b"]),
        ({"sweep": {"$ne": "s1"}}, ["c"]),
        ({"config.missing": {"$exists": False}}, ["a", "b", "c"]),
        ({"display_name": {"$regex": "^C"}}, ["c"]),
        ({"$nor": [{"sweep": "s1"}]}, ["c"]),
        ({"config.lr": {"$not": {"$gt": 0.15}}}, ["a"]),
    ],
)
def test_run_filters(flt: dict, expected: list[str]) -> None:
    assert [r.id for r in RUNS if matches(r, flt)] == expected


def test_unknown_filter_operator_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"\$near"):
        matches(RUNS[0], {"lr": {"$near": 1}})


def test_order_runs_by_config_and_summary_with_missing_last() -> None:
    runs = [_run("a"), _run("b"), _run("c")]
    runs[0].writers[""] = _Writer("", summary={"loss": 3.0})
    runs[2].writers[""] = _Writer("", summary={"loss": 1.0})
    assert [r.id for r in order_runs(runs, "+summary_metrics.loss")] == ["c", "a", "b"]
    assert [r.id for r in order_runs(runs, "-summary_metrics.loss")] == ["a", "c", "b"]
    assert [r.id for r in order_runs(RUNS, "-config.lr.value")] == ["c", "b", "a"]


def test_shared_writers_append_and_retries_replace_their_own_lines() -> None:
    store = Store()
    store.upsert_run({"entity": "e", "project": "p", "name": "r", "config": '{"a": {"value": 1}}'}, "w1")
    store.upsert_run({"entity": "e", "project": "p", "name": "r", "config": '{"b": {"value": 2}}'}, "w2")

    def post(client: str, offset: int, rows: list[dict], **extra) -> None:
        body = {"files": {"wandb-history.jsonl": {"offset": offset, "content": [json.dumps(r) for r in rows]}}}
        store.file_stream("e", "p", "r", {**body, **extra}, client)

    post("w1", 0, [{"m1": 0}, {"m1": 1}])
    post("w2", 0, [{"m2": 0}])
    post("w1", 1, [{"m1": 1}, {"m1": 2}])  # a retried chunk overlapping line 1
    post("w2", 1, [{"m2": 1}], complete=False)
    run = store.get_run("e", "p", "r")
    assert run is not None
    assert run.history == [{"m1": 0}, {"m1": 1}, {"m2": 0}, {"m1": 2}, {"m2": 1}]
    assert run.config == {"a": 1, "b": 2}

    store.file_stream("e", "p", "r", {"complete": True, "exitcode": 0}, "w1")
    # A secondary writer's later upsert must not make the finished run "running" again.
    store.upsert_run({"entity": "e", "project": "p", "name": "r"}, "w2")
    assert run.state == "finished" and run.finished_by == ["w1"]
    # A plain (non-shared) re-init is a resumed session.
    store.upsert_run({"entity": "e", "project": "p", "name": "r"}, None)
    assert run.state == "running" and run.sessions == 2


def test_a_missing_sweep_engine_is_an_error_naming_both_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    from wandb_loopback import controller
    from wandb_loopback.gql_values import GraphQLFailure

    def no_engine(name: str) -> None:
        raise ImportError(f"No module named {name!r}")

    monkeypatch.setattr(controller.importlib, "import_module", no_engine)
    with pytest.raises(GraphQLFailure, match=r"testing\[sweeps\].*testing\[sweeps-wandb-engine\]"):
        controller._engine()
    assert controller.has_engine() is False


def test_without_w_and_b_s_engine_the_controller_uses_flyteplugins_sweeps(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("flyteplugins.wandb_sweeps")
    from wandb_loopback import controller

    real = controller.importlib.import_module

    def no_w_and_b_engine(name: str) -> object:
        if name == "sweeps":
            raise ImportError("No module named 'sweeps'")
        return real(name)

    monkeypatch.setattr(controller.importlib, "import_module", no_w_and_b_engine)
    engine = controller._engine()
    assert engine.name == "flyteplugins-wandb-sweeps"
    grid = {"method": "grid", "parameters": {"a": {"values": [1, 2]}, "b": {"value": "x"}}}
    done = controller.EngineRun("r1", "finished", {"a": {"value": 1}, "b": {"value": "x"}}, {"loss": 1})
    # The point already run is skipped, a pending one too; then the grid is used up.
    assert engine.next_params(grid, [done]) == {"a": {"value": 2}, "b": {"value": "x"}}
    pending = controller.EngineRun("r2", "pending", {"a": {"value": 2}, "b": {"value": "x"}})
    assert engine.next_params(grid, [done, pending]) is None
