"""``curl_command``: the exact command that invokes an exported action of this kernel."""

from __future__ import annotations

import json
import shlex
from typing import Any

from ._action import Action
from ._magic import kernel_id
from ._routes import actions_path, mcp_route
from ._server_url import PLACEHOLDER_URL, TOKEN_PLACEHOLDER, server_url


def curl_command(action: Action[Any], args: dict[str, Any] | None = None) -> str:
    """A curl command for ``action`` with ``args`` as its JSON body, after a comment with the
    kernel's MCP URL (before, so that flags appended to the command still reach curl).

    The token is left as ``${JUPYTER_TOKEN}`` (``jupyter server list`` shows it), so it
    never lands in the saved notebook. The server's URL comes from its runtime files (see
    ``_server_url``): nothing is asked over HTTP.
    """
    if not action.exported:
        message = (
            f"{action.name!r} is an inline action: only exported actions (from a %%use_server cell) "
            "are reachable over HTTP"
        )
        raise ValueError(message)
    kid = kernel_id()
    url = server_url() if kid else PLACEHOLDER_URL
    route = f"{url.rstrip('/')}{actions_path(kid)}/{action.name}"
    mcp = f"{url.rstrip('/')}{mcp_route(kid)}"
    command = " \\\n  ".join(
        [
            f"curl -X POST {shlex.quote(route)}",
            f'-H "Authorization: token {TOKEN_PLACEHOLDER}"',
            "-H 'Content-Type: application/json'",
            f"-d {shlex.quote(json.dumps(args or {}))}",
        ]
    )
    return f"# as MCP tools: {mcp} (notebook_actions.mcp_config() prints a client's config)\n{command}"
