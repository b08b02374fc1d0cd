"""A `FieldTable` as an extension uses it: its custom_context layout and the checks it runs."""

from __future__ import annotations

import pytest

from flyteplugins.wandb_core import WandbConfigError
from flyteplugins.wandb_core.ext import Field, FieldTable

TABLE = FieldTable(
    Field("project", "str", "plugin", check=Field.wandb_name()),
    Field("method", "str", "plugin", check=Field.choice(("grid", "random"))),
    Field("mode", "str", "plugin", check=Field.wandb_mode()),
    Field("metric", "json", "plugin"),
    Field("enabled", "json", "plugin", default=False, check=Field.typed(bool, "True or False")),
    prefix="ext_",
    skip_prefix="ext_private_",
)


def test_encode_then_decode_gives_the_values_back_and_leaves_other_keys_alone() -> None:
    values = {"project": "p", "method": "grid", "metric": {"name": "loss"}, "enabled": True, "kwargs": {"x": [1]}}
    encoded = TABLE.encode({**values, "unset": None})
    assert encoded == {
        "ext_project": "p",
        "ext_method": "grid",
        "ext_metric": '{"name": "loss"}',
        "ext_enabled": "true",
        "ext_kwargs": '{"x": [1]}',
    }
    context = {**encoded, "ext_private_id": "1", "wandb_project": "q", "ext_method_unused": "[1"}
    assert TABLE.decode(context) == {**values, "method_unused": "[1"}
    # An emptied string field reads as unset (custom_context cannot delete a key).
    assert TABLE.decode({"ext_project": ""}) == {}
    assert [TABLE.owns(k) for k in ("ext_a", "ext_private_a", "other")] == [True, False, False]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"method": "bayes"}, "method='bayes' is not valid; allowed values: 'grid', 'random'"),
        ({"project": "a/b"}, "project"),
        ({"mode": "dry"}, "mode='dry' is not valid; allowed values: 'online', 'offline', 'disabled', 'shared'"),
        ({"enabled": "yes"}, "enabled"),
        ({"metric": {"f": object()}}, "metric must be JSON-serializable"),
        ({"kwargs": {"api_key": "k"}}, "api_key"),
    ],
)
def test_validate_names_the_bad_argument(values: dict[str, object], message: str) -> None:
    with pytest.raises(WandbConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        TABLE.validate("ext_config", values)


def test_validate_refuses_the_live_key_before_any_message_could_quote_it(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "0123456789abcdef0123456789abcdef01234567"
    monkeypatch.setenv("WANDB_API_KEY", secret)
    # The bad method would be reported too, quoting its value: the key is found first.
    with pytest.raises(WandbConfigError, match="ext_config: method contains the W&B API key") as caught:
        TABLE.validate("ext_config", {"method": secret, "kwargs": {"notes": f"key {secret}"}})
    assert secret not in str(caught.value)


def test_valid_settings_pass() -> None:
    TABLE.validate(
        "ext_config", {"project": "p", "method": "random", "mode": "offline", "enabled": False, "kwargs": {"a": 1}}
    )
