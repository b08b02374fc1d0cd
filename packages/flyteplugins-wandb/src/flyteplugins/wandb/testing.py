"""Read offline W&B runs back in tests of tracked workflows (see ``flyteplugins.wandb_core.testing``)."""

from flyteplugins.wandb_core.testing import *  # noqa: F403
from flyteplugins.wandb_core.testing import __all__  # noqa: F401
