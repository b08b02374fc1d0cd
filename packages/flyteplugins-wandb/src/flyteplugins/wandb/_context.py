"""2.12's module path: `_WandBConfig(**fields)` calls `wandb_config` and answers isinstance for it (and sweeps')."""

from collections.abc import Callable
from typing import Any

import flyteplugins.wandb_core as _core
from flyteplugins.wandb_core import WandbConfig, get_wandb_context, wandb_config

__all__ = ["_WandBConfig", "_WandBSweepConfig", "get_wandb_context", "wandb_config"]


class _FactoryClass(type):  # calling the class calls a factory; the factory's type answers isinstance
    _factory: Callable[..., Any]
    _target: Callable[[], type | tuple[type, ...]]

    def __call__(cls, **fields: Any) -> Any:
        extra = fields.pop("kwargs", None) or {}  # 2.12 took wandb.init's extras as one dict
        return cls._factory(**fields, **extra)

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, cls._target())

    def __getattr__(cls, name: str) -> Any:  # from_dict, from_task_context, ...
        return getattr(cls._target(), name)


def _sweep_type() -> type | tuple[type, ...]:
    try:
        from flyteplugins.wandb_sweeps import WandbSweepConfig
    except ImportError:
        return ()  # without the [sweeps] extra nothing is a sweep config
    return WandbSweepConfig


class _WandBConfig(metaclass=_FactoryClass):
    _factory = staticmethod(wandb_config)
    _target = staticmethod(lambda: WandbConfig)


class _WandBSweepConfig(metaclass=_FactoryClass):
    # Resolved per call: MissingExtraError without [sweeps].
    _factory = staticmethod(lambda **fields: _core.wandb_sweep_config(**fields))
    _target = staticmethod(_sweep_type)
