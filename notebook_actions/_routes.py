"""Every URL path of notebook-actions, built in one place (below the server's base URL).

The server's handlers match these patterns; the kernel side (``%%use_server``'s summary,
``curl``, ``mcp_config``) writes the same paths for people to call.
"""

from __future__ import annotations

import posixpath
import urllib.parse

#: Where the server extension's HTTP API lives, and its MCP endpoints.
API_ROOT = "/notebook-actions/api"
MCP_ROOT = "/notebook-actions/mcp"
STATUS_PATH = f"{API_ROOT}/status"
#: A served notebook's app page, and the files its page loads.
APPS_ROOT = "/notebook-actions/apps"
STATIC_ROOT = "/notebook-actions/static/apps"

#: The two ways a route names its kernel (tornado patterns, with the groups the handlers take).
KERNEL_PATTERN = r"kernels/(?P<kernel_id>\w+-\w+-\w+-\w+-\w+)"
NOTEBOOK_PATTERN = r"notebooks/(?P<path>.+)"
NAME_PATTERN = r"(?P<name>[^/]+)"
TARGET_PATTERNS = (KERNEL_PATTERN, NOTEBOOK_PATTERN)


def notebook_path(path: str) -> str:
    """A notebook's API path as routes and config may spell it (slashes, ``./``): one
    spelling per notebook, so that each has one pool and one MCP session manager."""
    return posixpath.normpath(path.strip("/")).lstrip("/")


def _target(kernel_id: str | None, notebook: str | None) -> str:
    if notebook is not None:
        return f"notebooks/{urllib.parse.quote(notebook_path(notebook))}"
    return f"kernels/{kernel_id or '<kernel_id>'}"


def api_route(kernel_id: str | None = None, notebook: str | None = None) -> str:
    """The HTTP API of a kernel, or of a notebook (its pool or its session's kernel)."""
    return f"{API_ROOT}/{_target(kernel_id, notebook)}"


def actions_path(kernel_id: str | None = None, notebook: str | None = None) -> str:
    """The path of the exported actions (``POST {path}/{name}`` invokes one)."""
    return f"{api_route(kernel_id, notebook)}/actions"


def app_route(notebook: str) -> str:
    """A served notebook's app page."""
    return f"{APPS_ROOT}/{urllib.parse.quote(notebook_path(notebook))}"


def inline_path(notebook: str) -> str:
    """Where an app page's widgets call actions by id (``POST {path}/{action_id}``)."""
    return f"{api_route(notebook=notebook)}/inline"


def mcp_route(kernel_id: str | None = None, notebook: str | None = None) -> str:
    """The MCP endpoint of a kernel, or of a notebook (its exported actions as MCP tools)."""
    return f"{MCP_ROOT}/{_target(kernel_id, notebook)}"
