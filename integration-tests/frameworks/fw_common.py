"""What the framework tests share: a tiny regression dataset and a barrier registry."""

from __future__ import annotations

import threading

import torch

BARRIERS: dict[str, threading.Barrier] = {}
STEPS = 16  # rows per run: 64 samples in batches of 4, one epoch


def regression_data(seed: int) -> torch.utils.data.TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(STEPS * 4, 4, generator=g)
    return torch.utils.data.TensorDataset(x, x.sum(dim=1, keepdim=True))


def wait(barrier: str) -> None:
    if barrier:
        BARRIERS[barrier].wait(120)
