"""Public notebooks' anonymous visitors (``NotebookActions.public``): who they are, and where
they may go.

jupyter-server decides who a request is from (an ``IdentityProvider``) and what they may do
(an ``Authorizer``). ``serve``'s identity provider (``ServeIdentityProvider``) answers as
jupyter-server's own does (the token, a login cookie); only a request that brings neither,
to a route of a public notebook (``welcomes_visitors``), is a ``Visitor`` instead of nobody.
A visitor is named by a signed cookie (the server's ``cookie_secret``): the same browser is
the same visitor, a browser that deleted the cookie is a new one, and a cookie that does not
verify is ignored and replaced. ``serve``'s authorizer lets a visitor reach notebook-actions'
resource on such a route and nothing else (``_authorizer``).

Each route of notebook-actions says which notebook a visitor would reach through its
handler's ``visitor_notebook()`` (None: never public; MCP's handler sets ``visitor_mcp``).
Jupyter's own routes have none: they are never public.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.identity import IdentityProvider, User
from tornado import web

from ..._routes import notebook_path
from .._config import NotebookActions
from ._say_why import say_why

#: The cookie that names a visitor (signed with the server's cookie_secret).
VISITOR_COOKIE = "notebook-actions-visitor"
#: How long a browser keeps being the same visitor.
VISITOR_DAYS = 365
_VISITOR_ID = re.compile(r"[0-9a-f]{32}")

#: What an anonymous visitor is told where the token is needed.
VISITORS_REFUSED = (
    "this route needs the server's token: anonymous visitors reach only the app pages and the "
    "actions of public notebooks (NotebookActions.public), not Jupyter's APIs, the status "
    "route, other notebooks or kernels. Send the token as 'Authorization: token <token>'"
)


@dataclass
class Visitor(User):
    """An anonymous visitor of a public notebook (``current_user().anonymous``)."""


def is_public(config: NotebookActions, served: Callable[[str], bool], path: str, *, mcp: bool = False) -> bool:
    """Whether anonymous visitors may reach the served notebook ``path`` (over MCP: ``mcp``)."""
    path = notebook_path(path)
    if not served(path) or (mcp and not config.public_mcp):
        return False
    public = config.public
    return public is True or (isinstance(public, list) and path in public)


def route_notebook(handler: web.RequestHandler) -> str | None:
    """The notebook path in a route by notebook path (None in a route by kernel id)."""
    path = handler.path_kwargs.get("path")
    return path if isinstance(path, str) else None


def welcomes_visitors(handler: web.RequestHandler) -> bool:
    """Whether the request is for a route of a public notebook."""
    ask = getattr(handler, "visitor_notebook", None)
    service = handler.settings.get("notebook_actions")
    path = ask() if callable(ask) else None
    if not isinstance(path, str) or service is None:
        return False
    return is_public(service.config, service.served, path, mcp=bool(getattr(handler, "visitor_mcp", False)))


def visitor(handler: web.RequestHandler) -> Visitor:
    """The visitor the request's cookie names; a new one (and its cookie) if it names none."""
    raw = handler.get_signed_cookie(VISITOR_COOKIE, max_age_days=VISITOR_DAYS)
    visitor_id = raw.decode("ascii", "replace") if raw else ""
    if not _VISITOR_ID.fullmatch(visitor_id):  # none, or one that does not verify: a new visitor
        visitor_id = secrets.token_hex(16)
        handler.set_signed_cookie(
            VISITOR_COOKIE,
            visitor_id,
            expires_days=VISITOR_DAYS,
            path=handler.settings.get("base_url", "/"),
            httponly=True,
            samesite="Lax",
            secure=handler.request.protocol == "https",
        )
    name = f"visitor-{visitor_id[:20]}"
    return Visitor(username=name, name=name, display_name=f"Visitor {visitor_id[:4]}")


class ServeIdentityProvider(IdentityProvider):
    """jupyter-server's identity provider, and for public notebooks' routes, visitors."""

    @cached_property
    def _options(self) -> NotebookActions:
        return NotebookActions(parent=self)

    async def get_user(self, handler: web.RequestHandler) -> User | None:
        user = await ensure_async(super().get_user(handler))
        if user is not None:
            return user
        if welcomes_visitors(handler):
            return visitor(handler)
        if self._options.public and not hasattr(handler, "visitor_notebook"):
            # Jupyter's own routes would say only "Forbidden" (notebook-actions' say what to send)
            say_why(handler, VISITORS_REFUSED)
        return None


def serves_visitors(serverapp: Any) -> bool:
    """Whether ``serverapp`` authenticates visitors (``public`` needs serve's identity provider)."""
    return isinstance(getattr(serverapp, "identity_provider", None), ServeIdentityProvider)
