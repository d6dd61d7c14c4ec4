"""``mcp_config``: the ``mcpServers`` entry that points an MCP client at this kernel's tools."""

from __future__ import annotations

import json
from typing import Any

from ._magic import kernel_id
from ._routes import mcp_route
from ._server_url import PLACEHOLDER_URL, TOKEN_PLACEHOLDER, server_url


class McpConfig:
    """The JSON an MCP client takes; shown as that JSON, ``.data`` is the dict."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def __str__(self) -> str:
        return json.dumps(self.data, indent=2)

    def __repr__(self) -> str:
        return str(self)


def mcp_config(name: str = "notebook", *, notebook: str | None = None) -> McpConfig:
    """The ``mcpServers`` entry for this kernel's exported actions, for clients such as
    Claude, VS Code or Cursor: the endpoint's URL and an ``Authorization`` header whose
    token is left as ``${JUPYTER_TOKEN}``.

    ``notebook="path/to/nb.ipynb"`` (relative to the server's root) points at the
    notebook instead of this kernel: the URL then stays valid when the notebook gets a
    new kernel.
    """
    kid = kernel_id()
    url = (server_url() if kid else PLACEHOLDER_URL).rstrip("/") + mcp_route(kid, notebook)
    entry = {"type": "http", "url": url, "headers": {"Authorization": f"Bearer {TOKEN_PLACEHOLDER}"}}
    return McpConfig({"mcpServers": {name: entry}})
