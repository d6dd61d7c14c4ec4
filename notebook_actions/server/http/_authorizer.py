"""``serve``'s authorizer: the server's token reaches notebook-actions' routes, not Jupyter's APIs.

Whoever has the token of a plain Jupyter server can start a kernel (``POST /api/kernels``)
and run any code in it over its websocket, read and write files (``/api/contents``,
``/files``), open terminals. A ``jupyter notebook-actions serve`` server is a service whose
token is handed to apps and agents to call actions: its token must not be a shell. So on
that server (``ServeServerApp``'s default ``authorizer_class``) every resource but
notebook-actions' own is refused, unless ``NotebookActions.serve_jupyter_api`` turns
Jupyter's APIs back on. A plain ``jupyter lab`` with the extension keeps its own authorizer.
"""

from __future__ import annotations

import json
from typing import Any

from jupyter_server.auth.authorizer import Authorizer
from jupyter_server.auth.identity import User
from jupyter_server.base.handlers import JupyterHandler

from .._config import NotebookActions
from ._handlers import AUTH_RESOURCE


def refusal_message(resource: str) -> str:
    return (
        f"Jupyter's own API (resource {resource!r}) is off on a `jupyter notebook-actions serve` "
        "server: its token reaches only notebook-actions' routes (actions, OpenAPI, MCP, status). "
        "To turn Jupyter's kernels, contents, sessions, terminals and kernelspecs APIs on, start "
        "serve with --jupyter-api (NotebookActions.serve_jupyter_api = True); whoever has the "
        "token can then run any code on this machine"
    )


class ServeAuthorizer(Authorizer):
    """Allows notebook-actions' resource; Jupyter's resources only with
    ``NotebookActions.serve_jupyter_api``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.options = NotebookActions(parent=self)

    def is_authorized(self, handler: JupyterHandler, user: User, action: str, resource: str) -> bool:
        if resource == AUTH_RESOURCE or self.options.serve_jupyter_api:
            return True
        _say_why(handler, refusal_message(resource))
        return False


def _say_why(handler: JupyterHandler, message: str) -> None:
    """Make the handler's refusal say ``message``, as JSON.

    jupyter-server answers a refused request with a message of its own that cannot name the
    option (``@authorized``: "User is not authorized to read on resource: kernels.", the
    kernel websocket a bare 403, as HTML where the handler is not an API's), and
    ``is_authorized`` is a question, not the place to raise (``/api/me`` asks it about
    permissions). So the handler's next 403 is written here.
    """
    jupyters = handler.write_error

    def write_error(status_code: int, **kwargs: Any) -> None:
        if status_code != 403:
            jupyters(status_code, **kwargs)
            return
        handler.set_header("Content-Type", "application/json")
        handler.finish(json.dumps({"message": message, "reason": "Forbidden"}))

    handler.write_error = write_error  # type: ignore[method-assign]
