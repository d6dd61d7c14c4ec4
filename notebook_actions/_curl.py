"""``curl_command``: the exact command that invokes an exported action of this kernel."""

from __future__ import annotations

import json
import shlex
import urllib.request
from typing import Any

from ._action import Action
from ._magic import kernel_id
from ._routes import actions_path, mcp_route

PLACEHOLDER_URL = "http://localhost:8888/"


def _server_url(kid: str) -> str:
    """The URL of the running Jupyter server that owns this kernel (asked over loopback)."""
    try:
        from jupyter_server.serverapp import list_running_servers

        servers = list(list_running_servers())
    except Exception:  # no runtime dir, no jupyter_server: fall back to the placeholder
        return PLACEHOLDER_URL
    for server in servers:
        url = str(server.get("url", ""))
        request = urllib.request.Request(
            f"{url}api/kernels/{kid}", headers={"Authorization": f"token {server.get('token', '')}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=1) as response:
                if response.status == 200:
                    return url
        except Exception:  # another server, or one that is gone
            continue
    return PLACEHOLDER_URL


def curl_command(action: Action[Any], args: dict[str, Any] | None = None) -> str:
    """A curl command for ``action`` with ``args`` as its JSON body, after a comment with the
    kernel's MCP URL (before, so that flags appended to the command still reach curl).

    The token is left as ``$JUPYTER_TOKEN`` (``jupyter server list`` shows it), so it
    never lands in the saved notebook.
    """
    if not action.exported:
        message = (
            f"{action.name!r} is an inline action: only exported actions (from a %%use_server cell) "
            "are reachable over HTTP"
        )
        raise ValueError(message)
    kid = kernel_id()
    url = _server_url(kid) if kid else PLACEHOLDER_URL
    route = f"{url.rstrip('/')}{actions_path(kid)}/{action.name}"
    mcp = f"{url.rstrip('/')}{mcp_route(kid)}"
    command = " \\\n  ".join(
        [
            f"curl -X POST {shlex.quote(route)}",
            '-H "Authorization: token $JUPYTER_TOKEN"',
            "-H 'Content-Type: application/json'",
            f"-d {shlex.quote(json.dumps(args or {}))}",
        ]
    )
    return f"# as MCP tools: {mcp} (notebook_actions.mcp_config() prints a client's config)\n{command}"
