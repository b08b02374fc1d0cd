"""Grid and random search in pure Python (no numpy, no optional engine)."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from . import _space


class BuiltinSearch:
    """W&B's ``grid`` (each combination once, skipping any a prior launch ran; then None) and ``random``."""

    def __init__(self, config: Mapping[str, Any], prior: Sequence[_space.Run] = (), seed: int | None = None) -> None:
        self.method = config["method"]
        self._params = _space.space(config["parameters"])
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._grid: Iterator[dict[tuple[str, ...], Any]] | None = None
        self._seen: set[str] = set()
        if self.method == "grid":
            self._grid = _space.grid(self._params)
            paths = [p for p, _ in self._params]
            for params, _state, _summary in prior:
                flat = _space.flatten(params, paths)
                if flat is not None:
                    self._seen.add(_space.key(list(flat.values())))

    def ask(self) -> tuple[None, dict[str, Any]] | None:
        with self._lock:
            if self._grid is None:
                return None, _space.nest({p: _space.sample(param, self._rng) for p, param in self._params})
            for combo in self._grid:
                k = _space.key(list(combo.values()))
                if k not in self._seen:
                    self._seen.add(k)
                    return None, _space.nest(combo)
            return None

    def tell(self, handle: Any, state: str, summary: Mapping[str, Any]) -> None:
        """Grid and random do not learn from outcomes."""

    def observe(self, handle: Any, step: int, value: float) -> bool:
        return False
