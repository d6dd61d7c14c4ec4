"""The kernel-connection layer, the pools and the action service speak no HTTP: only the HTTP
adapter turns their errors into statuses (``_http_replies.problem_for``)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

#: Modules below the front doors: they raise ``ServiceError``s, never an HTTP answer.
TRANSPORT_NEUTRAL = [
    "notebook_actions.server._bridge",
    "notebook_actions.server._kernels",
    "notebook_actions.server._transport",
    "notebook_actions.server._gateway_ws",
    "notebook_actions.server._gateway_client",
    "notebook_actions.server._acks",
    "notebook_actions.server._pool",
    "notebook_actions.server._priming",
    "notebook_actions.server._serving",
    "notebook_actions.server._service",
    "notebook_actions.server._replies",
    "notebook_actions.server._errors",
]

HTTP_ONLY = ("_problem", "_http_replies", "_handlers", "tornado.web")


def imported(module: str) -> set[str]:
    path = Path(importlib.import_module(module).__file__ or "")
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            names.add(node.module or "")
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("module", TRANSPORT_NEUTRAL)
def test_no_http_below_the_front_doors(module: str) -> None:
    names = imported(module)
    assert not [n for n in names if any(n == h or n.endswith(f".{h}") or f"{h}." in n for h in HTTP_ONLY)]
    assert not [n for n in names if n.endswith(".HTTPError")]
