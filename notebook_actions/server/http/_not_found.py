"""The answers for a request under ``{base_url}notebook-actions/`` that no route takes, or
that a route takes with another method: JSON that says what to do, as every other answer
of the extension, not Jupyter's HTML pages (a 404 page, a bare "403: Forbidden" for a POST
that its trailing-slash redirect refuses, a bare "Method Not Allowed")."""

from __future__ import annotations

import re
from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.utils import url_path_join
from tornado import web
from typing_extensions import override

from ..._routes import API_ROOT, MCP_ROOT
from ._problem import Problem

#: Every method a handler may implement; HEAD and OPTIONS follow from these.
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

#: How a kernel id is spelled (what ``/api/kernels`` lists): the routes' pattern.
KERNEL_ID = r"\w+-\w+-\w+-\w+-\w+"

ROUTES = (
    f"GET {API_ROOT}/kernels/{{kernel_id}}/actions, POST {API_ROOT}/kernels/{{kernel_id}}/actions/{{name}}, "
    f"GET {API_ROOT}/kernels/{{kernel_id}}/openapi.json, the same under {API_ROOT}/notebooks/{{path}}, "
    f"GET {API_ROOT}/status, and MCP at {MCP_ROOT}/kernels/{{kernel_id}} or {MCP_ROOT}/notebooks/{{path}}"
)


def allowed_methods(handler: web.RequestHandler) -> list[str]:
    """The methods ``handler``'s class implements (tornado's defaults answer 405)."""
    cls = type(handler)
    return [m for m in METHODS if getattr(cls, m.lower()) is not getattr(web.RequestHandler, m.lower())]


def method_not_allowed(handler: web.RequestHandler) -> str:
    """The message of a 405, with the ``Allow`` header set: the methods the route takes."""
    allowed = allowed_methods(handler)
    handler.set_header("Allow", ", ".join(allowed))
    hint = getattr(handler, "method_hint", "")
    return f"{handler.request.method} is not supported here: use {' or '.join(allowed)}{hint}"


def _advice(base_url: str, path: str) -> str:
    """What to do about ``path`` (under the base URL), which no route takes."""
    api = url_path_join(base_url, API_ROOT)
    mcp = url_path_join(base_url, MCP_ROOT)
    if path.endswith("/") and path.rstrip("/") not in (api, mcp):
        return f"drop the trailing slash: {path.rstrip('/')}"
    for root in (api, mcp):
        match = re.match(re.escape(root) + r"/kernels/([^/]+)", path)
        if match and not re.fullmatch(KERNEL_ID, match.group(1)):
            return (
                f"{match.group(1)!r} is not a kernel id (they look like 3f2a9c0d-1b7e-4c1d-9a2b-5e6f7a8b9c0d): "
                f"GET {url_path_join(base_url, '/api/kernels')} lists the running kernels"
            )
    return f"the routes are {ROUTES.replace(API_ROOT, api).replace(MCP_ROOT, mcp)}"


class NotFoundHandler(web.RequestHandler):
    """Whatever no route of the extension takes: a JSON 404 saying which routes there are.
    Nothing is read or done, so anyone may be told (as Jupyter's own 404 page tells anyone)."""

    def check_xsrf_cookie(self) -> None:
        pass  # nothing is done here: no request needs protecting

    def _not_found(self) -> None:
        base_url = self.settings.get("base_url", "/")
        path = self.request.path
        raise Problem(404, f"no route {path}: {_advice(base_url, path)}")

    @allow_unauthenticated
    @override
    def get(self, *args: Any) -> None:
        self._not_found()

    post = put = patch = delete = head = get

    @override
    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = (kwargs.get("exc_info") or (None, None, None))[1]
        message = exc.message if isinstance(exc, Problem) else "no such route"
        self.set_header("Content-Type", "application/json")
        self.finish({"message": message})


def not_found_handlers(base_url: str) -> list[tuple[str, type[web.RequestHandler]]]:
    """Registered after every other route of the extension: they come first."""
    return [(url_path_join(base_url, r"/notebook-actions(/.*)?"), NotFoundHandler)]
