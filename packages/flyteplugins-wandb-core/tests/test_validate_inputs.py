"""Bad input is refused at decoration / wandb_config time, naming the argument and the allowed values.

The second half checks the recorded rules against the installed wandb (its ``wandb.init`` signature
and ``wandb.Settings`` validators), so the two cannot drift apart.
"""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
import textwrap
import typing
from typing import Any

import flyte
import pytest

from flyteplugins.wandb_core import WandbConfigError, _validate, _wandb_names, wandb_config, wandb_init

env = flyte.TaskEnvironment(name="validate_inputs")

# (keyword arguments, a regex the message must match: the argument and what is allowed)
BAD_INPUTS: list[tuple[dict[str, Any], str]] = [
    ({"project": "team/proj"}, r"project='team/proj' contains /; W&B names cannot contain any of / \\ # \? % :"),
    ({"project": "a#b"}, r"project='a#b' contains #"),
    ({"project": "p" * 129}, r"project is 129 characters long; W&B allows at most 128"),
    ({"project": "   "}, r"project must not be empty"),
    ({"entity": "my:team"}, r"entity='my:team' contains :"),
    ({"entity": "e" * 200}, r"entity is 200 characters long"),
    ({"id": "exp/1"}, r"id='exp/1' is not a valid W&B run id: it contains /"),
    ({"id": "a%b"}, r"it contains %"),
    ({"id": "a\\b"}, r"it contains \\"),
    ({"id": "run:1"}, r"it contains :"),
    ({"id": "   "}, r"it is only whitespace"),
    ({"id": " r1"}, r"starts or ends with whitespace"),
    ({"id": ""}, r"it is empty"),
    ({"id": "r" * 129}, r"it is 129 characters long \(at most 128\)"),
    (
        {"tags": "baseline"},
        r"tags must be a list or tuple of strings, got the string 'baseline'; write tags=\['baseline'\]",
    ),
    ({"tags": ["ok", 3]}, r"tags must be a list or tuple of strings"),
    ({"tags": {"a": 1}}, r"tags must be a list or tuple of strings"),
    ({"tags": ["t" * 65]}, r"tags\[0\]='t+' is 65 characters; W&B tags must be 1 to 64 characters"),
    ({"tags": [""]}, r"tags\[0\]='' is 0 characters"),
    ({"lr": 0.1}, r"unknown argument 'lr'\..*Hyperparameters go in config="),
    ({"save_cod": True}, r"unknown argument 'save_cod'\. Did you mean 'save_code'\?"),
    ({"resume": "yes"}, r"resume='yes' is not valid; allowed values: 'allow', 'never', 'must', 'auto', True, False"),
    ({"settings": "fast"}, r"settings must be a dict of wandb.Settings fields or a wandb.Settings object, got str"),
    ({"settings": ["console"]}, r"settings must be a dict"),
    ({"settings": {"consol": "off"}}, r"settings\['consol'\] is not a wandb.Settings field\. Did you mean 'console'\?"),
    ({"settings": {"run_id": "a/b"}}, r"settings\['run_id'\]='a/b' is not a valid W&B run id"),
    ({"settings": {"project": "a?b"}}, r"settings\['project'\]='a\?b' contains \?"),
    ({"settings": {"run_tags": "x"}}, r"settings\['run_tags'\] must be a list or tuple of strings"),
    ({"settings": {"mode": "fast"}}, r"settings\['mode'\]='fast' is not valid"),
    ({"settings": {"base_url": "wandb.local"}}, r"settings\['base_url'\] must start with http"),
    ({"settings": {"api_key": "x"}}, r"secret-like argument 'api_key'"),
    ({"job_type": "j" * 65}, r"job_type is 65 characters long; W&B allows at most 64"),
    (
        {"settings": {"init_timeout": "soon"}},
        r"settings\['init_timeout'\] must be a number \(float, as wandb.Settings declares it\), "
        r"got str 'soon'",
    ),
    ({"settings": {"quiet": "maybe"}}, r"settings\['quiet'\] must be True or False \(bool.*got str 'maybe'"),
    ({"settings": {"project": 5}}, r"settings\['project'\] must be a string \(str.*got int 5"),
    ({"settings": {"x_stats_gpu_device_ids": ["a"]}}, r"must be a list of integers \(ints"),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD_INPUTS, ids=[repr(k)[:40] for k, _ in BAD_INPUTS])
def test_wandb_config_refuses(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(WandbConfigError, match=message):
        wandb_config(**kwargs)


@pytest.mark.parametrize(("kwargs", "message"), BAD_INPUTS, ids=[repr(k)[:40] for k, _ in BAD_INPUTS])
def test_wandb_init_refuses_at_decoration(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(WandbConfigError, match=message):

        @wandb_init(**kwargs)
        @env.task
        async def task() -> None: ...


@pytest.mark.parametrize(
    "kwargs",
    [
        {"project": "my-project_1.0", "entity": "team", "id": "run-1_a.b", "tags": ["a", "t" * 64]},
        {"tags": ("a", "b")},
        {"resume": "must"},
        {"resume": True},
        {"settings": {"console": "off", "x_label": "w0", "run_tags": ["a"]}},
        # what pydantic's lax mode (wandb.Settings) converts is accepted as wandb accepts it
        {"settings": {"init_timeout": "10", "quiet": "yes", "x_stats_gpu_device_ids": (0, 1)}},
        {"settings": {"login_timeout": 5, "heartbeat_seconds": 30.0, "x_proxies": {"https": "http://p"}}},
        {"save_code": False, "reinit": "create_new", "dir": "/tmp", "config_exclude_keys": ["a"]},
        {"id": "a b"},  # inner whitespace is something wandb accepts
    ],
)
def test_valid_inputs_still_pass(kwargs: dict[str, Any]) -> None:
    wandb_config(**kwargs)

    @wandb_init(**kwargs)
    def fn() -> None: ...


def test_wandb_settings_object_is_accepted_as_what_the_user_set() -> None:
    import wandb

    cfg = wandb_config(settings=wandb.Settings(console="off", project="p"))
    assert cfg.kwargs == {"settings": {"console": "off", "project": "p"}}

    @wandb_init(settings=wandb.Settings(console="off"))
    def fn() -> None: ...

    assert fn.__flyteplugins_wandb__["kwargs"]["settings"] == {"console": "off"}


# ---------------------------------------------------------------------------------------------
# Decorator misuse
# ---------------------------------------------------------------------------------------------


def test_positional_run_mode_says_use_the_keyword() -> None:
    with pytest.raises(WandbConfigError, match=r"keyword arguments only.*Write @wandb_init\(run_mode='new'\)"):

        @wandb_init("new")  # type: ignore[call-overload]
        def fn() -> None: ...


def test_decorating_a_class_is_refused() -> None:
    with pytest.raises(WandbConfigError, match=r"got the class"):

        @wandb_init
        class Trainer:
            pass


def test_generator_functions_are_refused() -> None:
    with pytest.raises(WandbConfigError, match=r"cannot track a generator function"):

        @wandb_init
        def gen():  # type: ignore[no-untyped-def]
            yield 1

    with pytest.raises(WandbConfigError, match=r"cannot track an async generator function"):

        @wandb_init(run_mode="new")
        async def agen():  # type: ignore[no-untyped-def]
            yield 1


def test_async_generator_task_is_refused() -> None:
    # Flyte accepts an async generator as a task; wrapping it would finish the run before the body runs.
    @env.task
    async def stream() -> typing.AsyncIterator[int]:
        yield 1

    with pytest.raises(WandbConfigError, match=r"cannot track an async generator function \('.*stream'\)"):
        wandb_init(stream)


def test_decoration_does_not_import_wandb() -> None:
    code = textwrap.dedent(
        """
        import sys
        import flyte
        from flyteplugins.wandb_core import WandbConfigError, wandb_config, wandb_init
        env = flyte.TaskEnvironment(name="t")
        wandb_config(project="p", tags=["a"], settings={"console": "off"}, resume="allow")
        @wandb_init(project="p", save_code=True)
        @env.task
        async def t() -> None: ...
        bad_inputs = [{"lr": 1}, {"settings": {"consol": 1}}, {"settings": {"init_timeout": "soon"}}]
        for bad in bad_inputs + [{"id": "a/b"}]:
            try:
                wandb_config(**bad)
            except WandbConfigError:
                pass
        assert "wandb" not in sys.modules, "decoration imported wandb"
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


# ---------------------------------------------------------------------------------------------
# The recorded rules against the installed wandb
# ---------------------------------------------------------------------------------------------


def test_recorded_names_and_kinds_match_the_installed_wandb() -> None:
    import wandb

    assert wandb.Settings.model_config.get("extra") == "forbid"  # why unknown keys must be refused
    recorded = _wandb_names.recorded(wandb.__version__)
    assert recorded is not None, (
        f"wandb {wandb.__version__} is not recorded in _wandb_names.py (recorded: "
        f"{', '.join(_wandb_names.RECORDED_RELEASES)}): run scripts/record_wandb_names.py with its line"
    )
    live = _wandb_names.read_installed(wandb)
    assert recorded.init_kwargs == live.init_kwargs
    assert recorded.settings == live.settings
    assert _wandb_names.for_early_checks() == recorded


# Values every kind meets somewhere: a kind must never refuse one that wandb.Settings takes.
SETTING_VALUES: list[Any] = [
    "soon", "10", "1.5", "yes", "", 10, 0, 1, 1.5, 2.0, True, ["a"], [1], ("a",), [], {"a": "b"}, {"a": 1},
]  # fmt: skip


def test_setting_kinds_refuse_only_what_wandb_settings_refuses() -> None:
    live = _wandb_names.for_early_checks()
    assert live is not None
    too_strict = [
        (name, value)
        for name, kind in live.settings.items()
        if name != "run_tags"  # judged by check_tags (tested against wandb above), stricter by design
        for value in SETTING_VALUES
        if not _validate.setting_fits(kind, value) and _wandb_accepts(**{name: value})
    ]
    assert not too_strict
    numbers = [n for n, k in live.settings.items() if k in ("int", "float")]
    assert numbers and not any(_wandb_accepts(**{n: "soon"}) for n in numbers)


def test_names_follow_the_installed_release_line(monkeypatch: pytest.MonkeyPatch) -> None:
    # x_sync_dir_suffix arrived in wandb 0.22, x_disable_service left after 0.19.
    monkeypatch.setattr(_wandb_names, "installed_release", lambda: "0.21.4")
    with pytest.raises(WandbConfigError, match=r"settings\['x_sync_dir_suffix'\].*installed: wandb 0\.21\.4"):
        wandb_config(settings={"x_sync_dir_suffix": "w0"})
    monkeypatch.setattr(_wandb_names, "installed_release", lambda: "0.22.3")
    wandb_config(settings={"x_sync_dir_suffix": "w0"})
    monkeypatch.setattr(_wandb_names, "installed_release", lambda: "0.19.11")
    wandb_config(settings={"x_disable_service": True})
    monkeypatch.setattr(_wandb_names, "installed_release", lambda: "0.20.1")
    with pytest.raises(WandbConfigError, match=r"settings\['x_disable_service'\]"):
        wandb_config(settings={"x_disable_service": True})


def test_an_unrecorded_wandb_is_judged_when_the_run_opens(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wandb line newer than the table: decoration lets the names pass, the run's opening refuses them."""
    import wandb

    from flyteplugins.wandb_core._lifecycle import start_run
    from flyteplugins.wandb_core._resolve import RunPlan

    monkeypatch.setattr(_wandb_names, "installed_release", lambda: "0.99.0")
    assert _wandb_names.for_early_checks() is None
    wandb_config(some_future_init_arg=True, settings={"x_some_future_setting": 1})
    cases = [
        ({"lr": 0.1}, {}, rf"run 'r1' got an unknown argument 'lr'\..*of wandb {re.escape(wandb.__version__)} "),
        ({"project": "p"}, {"consol": "off"}, r"settings\['consol'\] is not a wandb.Settings field"),
        ({"project": "p"}, {"init_timeout": "soon"}, r"settings\['init_timeout'\] must be a number"),
    ]
    for init_kwargs, settings, message in cases:
        plan = RunPlan(action="init", run_id="r1", init_kwargs=init_kwargs, settings=settings)
        # Refused before wandb.init, even with on_error="continue": fail-open is for W&B, not for typos.
        with pytest.raises(WandbConfigError, match=message):
            start_run(plan)


def _wandb_accepts(**settings: Any) -> bool:
    import wandb

    try:
        wandb.Settings(**settings)
    except Exception:  # UsageError or pydantic's ValidationError
        return False
    return True


def _we_accept(check: Any, value: Any) -> bool:
    try:
        check("t", "arg", value)
    except WandbConfigError:
        return False
    return True


PROJECT_CORPUS = ["ok", "a-b_c.d", "with space", "a/b", "a\\b", "a#b", "a?b", "a%b", "a:b", "p" * 128, "p" * 129]
RUN_ID_CORPUS = [
    "r1", "exp-1_a.b", "a b", " r", "r ", "   ", "a/b", "a\\b", "a#b", "a?b", "a%b", "a:b", "a;b", "a,b",
    "a'b", "r" * 128,
]  # fmt: skip
TAG_CORPUS = [["a"], ["t" * 64], ["t" * 65], [""], ["a", "b" * 70]]


@pytest.mark.parametrize("name", PROJECT_CORPUS)
def test_project_rule_matches_wandb_settings(name: str) -> None:
    assert _we_accept(_validate.check_wandb_name, name) == _wandb_accepts(project=name)


@pytest.mark.parametrize("run_id", RUN_ID_CORPUS)
def test_run_id_rule_refuses_everything_wandb_refuses(run_id: str) -> None:
    ours, theirs = _we_accept(_validate.check_run_id, run_id), _wandb_accepts(run_id=run_id)
    if not theirs:
        assert not ours
    elif not ours:
        # Stricter only where wandb's own docs are: `\` and `%` (wandb.init docstring).
        import wandb

        assert {c for c in run_id if c in "\\%"} and "\\ # ? % :" in inspect.getdoc(wandb.init)


@pytest.mark.parametrize("tags", TAG_CORPUS)
def test_tag_rule_matches_wandb_settings(tags: list[str]) -> None:
    assert _we_accept(_validate.check_tags, tags) == _wandb_accepts(run_tags=tags)


def test_resume_and_mode_choices_match_wandb() -> None:
    import wandb

    resume = inspect.signature(wandb.init).parameters["resume"].annotation
    mode = inspect.signature(wandb.init).parameters["mode"].annotation
    hints = typing.get_type_hints(wandb.init)
    literals = {a for a in typing.get_args(hints["resume"]) if typing.get_origin(a) is typing.Literal}
    assert {v for lit in literals for v in typing.get_args(lit)} == set(_validate.RESUME_CHOICES), resume
    modes = {v for a in typing.get_args(hints["mode"]) for v in typing.get_args(a)}
    assert modes == set(_validate.WANDB_MODES), mode


def test_settings_table_roles_match_wandb_init() -> None:
    """The table's ``init``/``resolved`` fields are wandb.init arguments; its plugin settings are not."""
    from flyteplugins.wandb_core._validate import WANDB_FIELDS

    names = _wandb_names.for_early_checks()
    assert names is not None
    to_wandb = {*WANDB_FIELDS.with_role("init"), *WANDB_FIELDS.with_role("resolved")}
    assert to_wandb <= names.init_kwargs
    assert not set(WANDB_FIELDS.with_role("plugin")) & names.init_kwargs
    assert set(WANDB_FIELDS.names) == to_wandb | set(WANDB_FIELDS.with_role("plugin"))


def test_a_table_field_given_through_kwargs_travels_under_its_own_key() -> None:
    cfg = wandb_config(notes="n", job_type="train", save_code=True)
    assert (cfg["wandb_notes"], cfg["wandb_job_type"]) == ("n", "train")
    assert cfg.kwargs == {"save_code": True}

    @wandb_init(notes="n", id="r1", finish_timeout=5)
    def fn() -> None: ...

    settings = fn.__flyteplugins_wandb__  # type: ignore[attr-defined]
    assert (settings["notes"], settings["id"], settings["finish_timeout"]) == ("n", "r1", 5)
    assert "kwargs" not in settings
