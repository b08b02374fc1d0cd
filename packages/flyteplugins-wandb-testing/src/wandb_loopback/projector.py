"""Fit Python data to a GraphQL selection set, without a schema.

The W&B SDK only ever reads the fields it selects, so the server keeps its objects as plain dicts and
this module walks the client's query: aliases, fragments, inline fragments and ``@include``/``@skip``
are honoured; a field the server does not model comes back as ``null``. A dict value may be a
callable, called with the field's arguments, so expensive fields (history) are computed only when
selected.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
    value_from_ast_untyped,
)

# wandb sends the same few documents over and over: parsing each again was most of the server's CPU
# when twenty runs start or finish at once. Parsed documents are only read, never changed.
_parse = functools.lru_cache(maxsize=512)(parse)


class Operation:
    """One parsed GraphQL operation, ready to be projected."""

    def __init__(self, query: str, operation_name: str | None, variables: Mapping[str, Any] | None) -> None:
        self.document: DocumentNode = _parse(query)
        ops = [d for d in self.document.definitions if isinstance(d, OperationDefinitionNode)]
        if not ops:
            raise ValueError("GraphQL document has no operation")
        op = next((o for o in ops if operation_name and o.name and o.name.value == operation_name), ops[0])
        self.node = op
        # Documents written in Python are sent with an empty operationName: name them from the text.
        self.name = op.name.value if op.name else (operation_name or "")
        self.kind = op.operation.value  # "query" | "mutation"
        # A variable the client leaves out takes its declared default (``$includeAliases: Boolean =
        # true``): without it ``@include(if: $includeAliases)`` dropped the aliases of listed artifacts.
        defaults = {
            d.variable.name.value: value_from_ast_untyped(d.default_value)
            for d in op.variable_definitions or ()
            if d.default_value is not None
        }
        self.variables = {**defaults, **(variables or {})}
        self.fragments = {d.name.value: d for d in self.document.definitions if isinstance(d, FragmentDefinitionNode)}

    def root_fields(self) -> list[str]:
        return [f.name.value for f in self._fields(self.node.selection_set)]

    def project(self, root: Mapping[str, Any]) -> dict[str, Any]:
        return self._project(root, self.node.selection_set)

    # -- internals ---------------------------------------------------------------------------
    def _included(self, node: Any) -> bool:
        for directive in node.directives or ():
            args = {a.name.value: value_from_ast_untyped(a.value, self.variables) for a in directive.arguments}
            if directive.name.value == "include" and not args.get("if"):
                return False
            if directive.name.value == "skip" and args.get("if"):
                return False
        return True

    def _fields(self, selection_set: SelectionSetNode | None) -> list[FieldNode]:
        out: list[FieldNode] = []
        if selection_set is None:
            return out
        for sel in selection_set.selections:
            if not self._included(sel):
                continue
            if isinstance(sel, FieldNode):
                out.append(sel)
            elif isinstance(sel, InlineFragmentNode):
                out.extend(self._fields(sel.selection_set))
            elif isinstance(sel, FragmentSpreadNode):
                frag = self.fragments.get(sel.name.value)
                if frag is not None:
                    out.extend(self._fields(frag.selection_set))
        return out

    def args(self, field: FieldNode) -> dict[str, Any]:
        return {a.name.value: value_from_ast_untyped(a.value, self.variables) for a in field.arguments or ()}

    def _project(self, obj: Mapping[str, Any], selection_set: SelectionSetNode | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for field in self._fields(selection_set):
            name = field.name.value
            key = field.alias.value if field.alias else name
            value = obj.get(name) if isinstance(obj, Mapping) else None
            if name == "__typename" and value is None:
                value = "Object"
            if callable(value):
                value = _call(value, self.args(field))
            if field.selection_set is not None and value is not None:
                if isinstance(value, list):
                    value = [self._project(v, field.selection_set) if v is not None else None for v in value]
                elif isinstance(value, Mapping):
                    # Sibling selections of one field merge (two fragments selecting `run { ... }`).
                    prev = out.get(key)
                    projected = self._project(value, field.selection_set)
                    value = {**prev, **projected} if isinstance(prev, dict) else projected
            out[key] = value
        return out


def _call(fn: Callable[..., Any], args: dict[str, Any]) -> Any:
    return fn(**args)
