"""Inline actions: ``'use server'`` as the first statement of a function body.

An AST transformer that IPython applies to every cell: a ``def``/``async def`` at any
depth whose body starts with the directive gets a decorator that makes it an inline
action. The directive itself is removed, so a docstring that follows it becomes the
function's ``__doc__``. As in JavaScript, a directive after a docstring is not one.
"""

from __future__ import annotations

import ast
from typing import Any, TypeVar

from ._action import Action
from ._registry import registry

_Def = TypeVar("_Def", ast.FunctionDef, ast.AsyncFunctionDef)

DIRECTIVE = "use server"
#: The decorator's name in the user namespace (hidden from %who).
DECORATOR_NAME = "__notebook_actions_inline__"


def inline_action(func: Any) -> Action[Any]:
    """What the transformer's decorator calls: register ``func`` as an inline action."""
    return registry.add(Action(func, exported=False))


def has_directive(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    first = node.body[0] if node.body else None
    return isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and first.value.value == DIRECTIVE


class InlineDirective(ast.NodeTransformer):
    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        return self._mark(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AsyncFunctionDef:
        return self._mark(node)

    def _mark(self, node: _Def) -> _Def:
        self.generic_visit(node)
        if not has_directive(node):
            return node
        directive = node.body.pop(0)
        if not node.body:
            node.body.append(ast.copy_location(ast.Pass(), directive))
        # Last in the list, so it wraps the plain function and `@staticmethod` and
        # friends above it still see what they expect.
        decorator = ast.copy_location(ast.Name(id=DECORATOR_NAME, ctx=ast.Load()), directive)
        node.decorator_list.append(decorator)
        return node
