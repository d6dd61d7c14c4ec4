"""The official MCP Inspector (npm ``@modelcontextprotocol/inspector``, a devDependency, CLI
mode) against a served notebook's MCP URL, with the one ``Authorization: Bearer`` header that
``mcp_config()`` prints. Each run is a client that keeps no cookies: it initializes, then
sends its request on the session."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.e2e._servers import REPO

from .test_serve_cli import TODO, Serve, ready, serve  # noqa: F401 (fixture)

INSPECTOR = REPO / "node_modules" / "@modelcontextprotocol" / "inspector"


def inspector(url: str, token: str, home: Path, *method: str) -> subprocess.CompletedProcess[str]:
    assert INSPECTOR.is_dir(), "the MCP Inspector is not installed: run `make node_modules/.installed`"
    home.mkdir(exist_ok=True)
    argv = ["npx", "--no-install", "mcp-inspector", "--cli", url, "--transport", "http"]
    argv += [*method, "--header", f"Authorization: Bearer {token}"]
    # HOME: the Inspector keeps a catalog and storage under ~/.mcp-inspector
    env = {**os.environ, "HOME": str(home)}
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def result(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, (done.stdout, done.stderr)
    return json.loads(done.stdout)


def test_the_mcp_inspector_lists_and_calls_a_served_notebooks_tools(
    serve: Callable[..., Serve],  # noqa: F811
    tmp_path: Path,
) -> None:
    server = serve(f"jupyter notebook-actions serve {TODO}")
    server.wait_for(ready(TODO, 1))
    url, home = f"{server.url}notebook-actions/mcp/notebooks/{TODO}", tmp_path / "inspector"

    tools = result(inspector(url, server.token, home, "--method", "tools/list"))["tools"]
    assert {tool["name"] for tool in tools} == {"add_todo", "list_todos"}
    called = result(
        inspector(
            url, server.token, home, "--method", "tools/call", "--tool-name", "add_todo", "--tool-arg", "title=Milk"
        )
    )
    assert called["structuredContent"] == {"result": "Added 'Milk'"} and not called["isError"]
    listed = result(inspector(url, server.token, home, "--method", "tools/call", "--tool-name", "list_todos"))
    assert [todo["title"] for todo in listed["structuredContent"]["result"]] == ["Milk"]

    # A wrong token: the Inspector shows the server's message, which says what to send.
    refused = inspector(url, "wrong", home, "--method", "tools/list")
    assert refused.returncode != 0
    assert "not this server's token: send the server's token" in refused.stdout + refused.stderr
