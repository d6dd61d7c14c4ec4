"""``serve``'s authorizer: the server's token reaches notebook-actions' routes, not Jupyter's APIs.

Whoever has the token of a plain Jupyter server can start a kernel (``POST /api/kernels``)
and run any code in it over its websocket, read and write files (``/api/contents``,
``/files``), open terminals. A ``jupyter notebook-actions serve`` server is a service whose
token is handed to apps and agents to call actions: its token must not be a shell. So on
that server (``ServeServerApp``'s default ``authorizer_class``) every resource but
notebook-actions' own is refused, unless ``NotebookActions.serve_jupyter_api`` turns
Jupyter's APIs back on. A public notebook's anonymous visitor (``_visitors``) is refused
everything but that notebook's routes, whatever the options say. A plain ``jupyter lab``
with the extension keeps its own authorizer.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.authorizer import Authorizer
from jupyter_server.auth.identity import User
from jupyter_server.base.handlers import JupyterHandler

from .._config import NotebookActions
from ._handlers import AUTH_RESOURCE
from ._say_why import say_why
from ._visitors import VISITORS_REFUSED, Visitor, welcomes_visitors


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
        if isinstance(user, Visitor):  # anonymous: a public notebook's routes, nothing else
            if resource == AUTH_RESOURCE and welcomes_visitors(handler):
                return True
            say_why(handler, VISITORS_REFUSED)
            return False
        if resource == AUTH_RESOURCE or self.options.serve_jupyter_api:
            return True
        say_why(handler, refusal_message(resource))
        return False
