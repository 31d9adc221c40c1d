"""Walking pglast parse trees: every node below a value, or the nodes of one kind."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

from pglast import ast

N = TypeVar("N", bound=ast.Node)


def walk(value: object) -> Iterator[ast.Node]:
    """Every node below (and including) `value`."""
    if isinstance(value, ast.Node):
        yield value
        for attr in value:
            yield from walk(getattr(value, attr))
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from walk(item)


def nodes_of(value: object, kind: type[N]) -> Iterator[N]:
    """The nodes of type `kind` below `value`, subqueries included."""
    for node in walk(value):
        if isinstance(node, kind):
            yield node
