"""Bad input is refused at decoration / wandb_config time, naming the argument and the allowed values.

The second half checks the recorded rules against the installed wandb (its ``wandb.init`` signature
and ``wandb.Settings`` validators), so the two cannot drift apart.
"""

from __future__ import annotations

import inspect
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
    (
        {"project": "team/proj"},
        r"project='team/proj' contains /; W&B names cannot contain any of / \\ # \? % :",
    ),
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
    (
        {"resume": "yes"},
        r"resume='yes' is not valid; allowed values: 'allow', 'never', 'must', 'auto', True, False",
    ),
    (
        {"settings": "fast"},
        r"settings must be a dict of wandb.Settings fields or a wandb.Settings object, got str",
    ),
    ({"settings": ["console"]}, r"settings must be a dict"),
    (
        {"settings": {"consol": "off"}},
        r"settings\['consol'\] is not a wandb.Settings field\. Did you mean 'console'\?",
    ),
    ({"settings": {"run_id": "a/b"}}, r"settings\['run_id'\]='a/b' is not a valid W&B run id"),
    ({"settings": {"project": "a?b"}}, r"settings\['project'\]='a\?b' contains \?"),
    ({"settings": {"run_tags": "x"}}, r"settings\['run_tags'\] must be a list or tuple of strings"),
    ({"settings": {"mode": "fast"}}, r"settings\['mode'\]='fast' is not valid"),
    ({"settings": {"base_url": "wandb.local"}}, r"settings\['base_url'\] must start with http"),
    ({"settings": {"api_key": "x"}}, r"secret-like argument 'api_key'"),
    ({"job_type": "j" * 65}, r"job_type is 65 characters long; W&B allows at most 64"),
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
    with pytest.raises(
        WandbConfigError, match=r"keyword arguments only.*Write @wandb_init\(run_mode='new'\)"
    ):

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
        for bad in ({"lr": 1}, {"settings": {"consol": 1}}, {"id": "a/b"}):
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


def _installed_is_recorded() -> bool:
    return _wandb_names.lists_are_complete()


def test_init_kwargs_match_wandb_init_signature() -> None:
    import wandb

    real = set(inspect.signature(wandb.init).parameters)
    if not _installed_is_recorded():
        pytest.skip(f"names recorded from wandb {_wandb_names.RECORDED_VERSION}; unknown names pass through")
    assert set(_wandb_names.INIT_KWARGS) == real


def test_settings_fields_match_wandb_settings() -> None:
    import wandb

    assert wandb.Settings.model_config.get("extra") == "forbid"  # why unknown keys must be refused
    if not _installed_is_recorded():
        pytest.skip(f"names recorded from wandb {_wandb_names.RECORDED_VERSION}; unknown names pass through")
    assert set(_wandb_names.SETTINGS_FIELDS) == set(wandb.Settings.model_fields)


def test_unknown_names_pass_through_on_another_wandb_release(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_wandb_names, "lists_are_complete", lambda: False)
    wandb_config(some_future_init_arg=True, settings={"x_some_future_setting": 1})


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


PROJECT_CORPUS = [
    "ok",
    "a-b_c.d",
    "with space",
    "a/b",
    "a\\b",
    "a#b",
    "a?b",
    "a%b",
    "a:b",
    "p" * 128,
    "p" * 129,
]
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
