"""The Jupyter server extension: HTTP endpoints for the exported actions of running kernels.

Routes (under the server's base_url), each also under ``notebooks/{path}`` instead of
``kernels/{kernel_id}``, for the kernel of a notebook's running session:

- ``GET  /notebook-actions/api/kernels/{kernel_id}/actions``
- ``GET  /notebook-actions/api/kernels/{kernel_id}/openapi.json``
- ``POST /notebook-actions/api/kernels/{kernel_id}/actions/{name}``
- ``/notebook-actions/mcp/kernels/{kernel_id}``: the exported actions as MCP tools
  (Streamable HTTP: POST, GET, DELETE; see ``_mcp_handlers``)

Options: ``c.NotebookActions.<name>`` (see ``NotebookActions``).
"""

from __future__ import annotations

from typing import Any

from ._config import NotebookActions

__all__ = ["NotebookActions"]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from ._app import load

    load(serverapp)
