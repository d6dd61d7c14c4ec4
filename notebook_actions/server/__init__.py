"""The Jupyter server extension: HTTP endpoints for the exported actions of running kernels
and of served notebooks.

Routes (under the server's base_url), each also under ``notebooks/{path}`` instead of
``kernels/{kernel_id}``, for a served notebook's pool or else the kernel of the notebook's
running session:

- ``GET  /notebook-actions/api/kernels/{kernel_id}/actions``
- ``GET  /notebook-actions/api/kernels/{kernel_id}/openapi.json``
- ``POST /notebook-actions/api/kernels/{kernel_id}/actions/{name}``
- ``GET  /notebook-actions/api/status``: the served notebooks and their kernels
- ``/notebook-actions/mcp/kernels/{kernel_id}``: the exported actions as MCP tools
  (Streamable HTTP: POST, GET, DELETE; see ``mcp._handlers``)

Options: ``c.NotebookActions.<name>`` (see ``NotebookActions``). The extension loads as
``NotebookActionsApp``, also launched by ``jupyter notebook-actions serve``.
"""

from __future__ import annotations

from ._config import NotebookActions
from .http._authorizer import ServeAuthorizer

__all__ = ["NotebookActions", "ServeAuthorizer"]
