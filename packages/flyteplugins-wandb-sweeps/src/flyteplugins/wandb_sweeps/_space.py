"""W&B sweep parameters in pure Python (no numpy): checking, sampling, and enumerating a grid.

A ``parameters`` block is a tree: `leaves()` flattens it to ``(path, Param)`` pairs, `nest()` builds the
trial's config back; the distributions follow W&B's sweep configuration reference (docs/sweeps.md).
"""

from __future__ import annotations

import itertools
import json
import math
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SPEC_HINT = (
    "A parameter is one of {'values': [a, b, ...]} (non-empty), {'value': x}, or {'min': a, 'max': b} with "
    "a < b, optionally with a 'distribution'"
)

# distribution -> (keys it needs, keys it may have besides those). One place for the whole table.
_DISTRIBUTIONS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "constant": (frozenset({"value"}), frozenset()),
    "categorical": (frozenset({"values"}), frozenset()),
    "categorical_w_probabilities": (frozenset({"values", "probabilities"}), frozenset()),
    "int_uniform": (frozenset({"min", "max"}), frozenset()),
    "uniform": (frozenset({"min", "max"}), frozenset()),
    "q_uniform": (frozenset({"min", "max"}), frozenset({"q"})),
    "log_uniform": (frozenset({"min", "max"}), frozenset()),
    "log_uniform_values": (frozenset({"min", "max"}), frozenset()),
    "q_log_uniform": (frozenset({"min", "max"}), frozenset({"q"})),
    "q_log_uniform_values": (frozenset({"min", "max"}), frozenset({"q"})),
    "inv_log_uniform": (frozenset({"min", "max"}), frozenset()),
    "inv_log_uniform_values": (frozenset({"min", "max"}), frozenset()),
    "normal": (frozenset(), frozenset({"mu", "sigma"})),
    "q_normal": (frozenset(), frozenset({"mu", "sigma", "q"})),
    "log_normal": (frozenset(), frozenset({"mu", "sigma"})),
    "q_log_normal": (frozenset(), frozenset({"mu", "sigma", "q"})),
    "beta": (frozenset(), frozenset({"a", "b"})),
    "q_beta": (frozenset(), frozenset({"a", "b", "q"})),
}
DISTRIBUTIONS: tuple[str, ...] = tuple(sorted(_DISTRIBUTIONS))
_RANGES = frozenset(k for k, (need, _) in _DISTRIBUTIONS.items() if need == {"min", "max"})


# A run of the sweep as the engines see it: (parameters, state, summary).
Run = tuple[dict[str, Any], str, dict[str, Any]]


class ParameterError(ValueError):
    """A parameter spec W&B would refuse (the message names the rule broken)."""


@dataclass(frozen=True)
class Param:
    """One leaf parameter: its distribution and its spec with W&B's defaults filled in."""

    kind: str
    spec: Mapping[str, Any]

    @property
    def q(self) -> float:
        q: float = self.spec.get("q", 1)
        return q


def finite_number(value: Any) -> float | None:
    """``value`` as a float when it is a finite number (not a bool); else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _infer(spec: Mapping[str, Any]) -> str:
    """The distribution W&B assumes when a spec names none."""
    if "values" in spec:
        return "categorical_w_probabilities" if "probabilities" in spec else "categorical"
    if "value" in spec:
        return "constant"
    if "min" in spec and "max" in spec:
        both_int = all(isinstance(spec[k], int) and not isinstance(spec[k], bool) for k in ("min", "max"))
        return "int_uniform" if both_int else "uniform"
    raise ParameterError(SPEC_HINT)


def parse(spec: Any) -> Param:
    """Check one leaf spec and return it as a `Param` (raises `ParameterError` naming the problem).

    `_validate` has already refused a spec that is no mapping, an unknown ``distribution``, and
    ``values`` that are no non-empty list.
    """
    kind = spec.get("distribution") or _infer(spec)
    need, may = _DISTRIBUTIONS[kind]
    missing = sorted(need - set(spec))
    if missing:
        raise ParameterError(f"distribution {kind!r} needs {', '.join(repr(k) for k in missing)}")
    extra = sorted(set(spec) - need - may - {"distribution"})
    if extra:
        raise ParameterError(
            f"{', '.join(repr(k) for k in extra)} not allowed with distribution {kind!r} "
            f"(it takes {', '.join(repr(k) for k in sorted(need | may))})"
        )
    for key in ("min", "max", "mu", "sigma", "a", "b", "q"):
        if key in spec and finite_number(spec[key]) is None:
            raise ParameterError(f"{key!r} must be a finite number, got {spec[key]!r}")
    if kind in _RANGES and not spec["min"] < spec["max"]:
        raise ParameterError(f"min {spec['min']} is not less than max {spec['max']}")
    if kind == "int_uniform" and not all(isinstance(spec[k], int) for k in ("min", "max")):
        raise ParameterError(f"int_uniform needs integer min and max, got {spec['min']!r}, {spec['max']!r}")
    if kind.endswith("log_uniform_values") and spec["min"] <= 0:
        raise ParameterError(f"{kind} needs min > 0 (the values themselves), got {spec['min']}")
    for key in ("q", "sigma", "a", "b"):
        if key in spec and spec[key] <= 0:
            raise ParameterError(f"{key!r} must be > 0, got {spec[key]}")
    if kind == "categorical_w_probabilities":
        probs = spec["probabilities"]
        if (
            not isinstance(probs, list)
            or len(probs) != len(spec["values"])
            or not all(finite_number(p) is not None and p >= 0 for p in probs)
            or not math.isclose(sum(probs), 1.0, abs_tol=1e-6)
        ):
            raise ParameterError("'probabilities' must be one non-negative number per value, summing to 1")
    defaults = {"normal": {"mu": 0, "sigma": 1}, "beta": {"a": 1, "b": 1}}
    filled = dict(spec)
    for family, values in defaults.items():
        if kind.endswith(family):
            for key, value in values.items():
                filled.setdefault(key, value)
    filled.pop("distribution", None)
    return Param(kind, filled)


def is_group(spec: Any) -> bool:
    """``{"parameters": {...}}``: a nested group, not a leaf."""
    return isinstance(spec, Mapping) and set(spec) == {"parameters"} and isinstance(spec["parameters"], Mapping)


def leaves(parameters: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every leaf spec (unchecked) with its path; raises `ParameterError` for an empty group."""
    for name, spec in parameters.items():
        path = (*prefix, str(name))
        if is_group(spec):
            if not spec["parameters"]:
                raise ParameterError(f"parameters[{'.'.join(path)!r}] is an empty group. {SPEC_HINT}.")
            yield from leaves(spec["parameters"], path)
        else:
            yield path, spec


def space(parameters: Mapping[str, Any]) -> list[tuple[tuple[str, ...], Param]]:
    """The checked leaves of a (valid) parameters block."""
    return [(path, parse(spec)) for path, spec in leaves(parameters)]


def nest(values: Mapping[tuple[str, ...], Any]) -> dict[str, Any]:
    """Flat ``{path: value}`` -> the trial config (nested groups become nested dicts, as on W&B)."""
    out: dict[str, Any] = {}
    for path, value in values.items():
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return out


def flatten(config: Mapping[str, Any], paths: Sequence[tuple[str, ...]]) -> dict[tuple[str, ...], Any] | None:
    """A trial config -> ``{path: value}`` for ``paths``; None when one is missing (another space)."""
    out: dict[tuple[str, ...], Any] = {}
    for path in paths:
        node: Any = config
        for part in path:
            if not isinstance(node, Mapping) or part not in node:
                return None
            node = node[part]
        out[path] = node
    return out


def quantize(value: float, q: float) -> float:
    # An integer q over integer-valued draws gives ints, as the user wrote them.
    rounded = round(value / q) * q
    return int(rounded) if isinstance(q, int) else rounded


def sample(param: Param, rng: random.Random) -> Any:
    """One random draw of ``param`` (W&B's random search)."""
    s, kind = param.spec, param.kind
    if kind == "constant":
        return s["value"]
    if kind == "categorical":
        return rng.choice(s["values"])
    if kind == "categorical_w_probabilities":
        return rng.choices(s["values"], weights=s["probabilities"])[0]
    if kind == "int_uniform":
        return rng.randint(s["min"], s["max"])
    if kind in ("uniform", "q_uniform"):
        x = rng.uniform(s["min"], s["max"])
    elif kind in ("log_uniform", "q_log_uniform"):
        x = math.exp(rng.uniform(s["min"], s["max"]))
    elif kind in ("log_uniform_values", "q_log_uniform_values", "inv_log_uniform_values"):
        # 1/X with X log-uniform on [1/max, 1/min] is log-uniform on [min, max] as well.
        x = math.exp(rng.uniform(math.log(s["min"]), math.log(s["max"])))
    elif kind == "inv_log_uniform":
        x = math.exp(-rng.uniform(s["min"], s["max"]))
    elif kind in ("normal", "q_normal"):
        x = rng.gauss(s["mu"], s["sigma"])
    elif kind in ("log_normal", "q_log_normal"):
        x = rng.lognormvariate(s["mu"], s["sigma"])
    else:  # beta, q_beta
        x = rng.betavariate(s["a"], s["b"])
    return quantize(x, param.q) if kind.startswith("q_") else x


def grid_values(param: Param) -> list[Any] | None:
    """Every value a grid visits for ``param``; None for a continuous parameter."""
    s, kind = param.spec, param.kind
    if kind == "constant":
        return [s["value"]]
    if kind.startswith("categorical"):
        return list(s["values"])
    if kind == "int_uniform":
        return list(range(s["min"], s["max"] + 1))
    if kind == "q_uniform":
        # As W&B's server does (numpy's arange): from min in steps of q, max itself excluded.
        q = param.q
        return [s["min"] + i * q for i in range(math.ceil((s["max"] - s["min"]) / q - 1e-9))]
    return None


def key(value: Any) -> str:
    """A comparable form of a parameter value or config (values may be lists or dicts)."""
    return json.dumps(value, sort_keys=True, default=str)


def grid(params: Sequence[tuple[tuple[str, ...], Param]]) -> Iterator[dict[tuple[str, ...], Any]]:
    """Every combination, in parameter order (the first parameter varies slowest)."""
    axes = []
    for path, param in params:
        values = grid_values(param)
        if values is None:
            raise ParameterError(
                f"Parameter {'.'.join(path)} is a disallowed type with grid search ({param.kind}): grid "
                "needs every parameter to be a list of 'values', a single 'value', or an "
                "'int_uniform'/'q_uniform' range"
            )
        axes.append(values)
    for combo in itertools.product(*axes):
        yield {path: value for (path, _), value in zip(params, combo, strict=True)}
