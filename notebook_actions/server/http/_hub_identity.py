"""Who a visitor of a JupyterHub service is: the hub's user, signed in with the hub's OAuth.

JupyterHub's single-user server extension already drives jupyter-server's IdentityProvider
with ``HubOAuth`` (``jupyterhub.singleuser.extension.JupyterHubIdentityProvider``: the login
redirect with its state cookie and PKCE, the OAuth callback route, the token cookie, the
hub's XSRF tokens, the check of the access scopes, logout). The service's provider is that
one, with what a service needs besides:

- the user's groups, which the hub gives a service's OAuth token (``current_user().groups``);
- a signed-in user without the access scope is told why they get 403, and what grants it;
- the OAuth client id defaults to the hub's (``service-{name}``), and the cookies' path is
  the server's base_url, so an external service needs few variables.
"""

from __future__ import annotations

import os
from typing import Any, NoReturn

from jupyter_server.base.handlers import JupyterHandler
from jupyterhub.services.auth import HubOAuth
from jupyterhub.singleuser.extension import JupyterHubIdentityProvider, JupyterHubUser
from traitlets import default

from ._hub import SERVICE_NAME
from ._problem import Problem


class HubUser(JupyterHubUser):  # type: ignore[misc]  # (jupyterhub is untyped)
    """A hub user, with the groups the hub gives the service."""

    @property
    def groups(self) -> list[str] | None:
        groups = self.hub_user.get("groups")
        return [str(g) for g in groups] if isinstance(groups, list) else None


def not_allowed_message(user: dict[str, Any], scopes: set[str]) -> str:
    kind, name = user.get("kind", "user"), user.get("name", "?")
    needed = " or ".join(sorted(scopes)) or "(no access scope is set: JUPYTERHUB_OAUTH_ACCESS_SCOPES)"
    return (
        f"{kind} {name} is signed in to JupyterHub but may not use this service: it needs the scope "
        f"{needed}, which a JupyterHub admin grants with a role (c.JupyterHub.load_roles)"
    )


class HubIdentityProvider(JupyterHubIdentityProvider):  # type: ignore[misc]
    """Visitors sign in with the hub's OAuth; those without the service's access scope get 403."""

    @default("hub_auth")
    def _hub_auth(self) -> HubOAuth:
        # HubOAuth takes the rest from the environment (JUPYTERHUB_API_TOKEN, _API_URL, _HOST,
        # _OAUTH_CALLBACK_URL, _OAUTH_ACCESS_SCOPES, else access:services!service={name}).
        options: dict[str, Any] = {}
        base_url = getattr(self.parent, "base_url", None)
        if base_url:
            options["base_url"] = base_url
        name = os.environ.get(SERVICE_NAME)
        if name and not os.environ.get("JUPYTERHUB_CLIENT_ID"):
            options["oauth_client_id"] = f"service-{name}"
        return HubOAuth(parent=self, **options)

    async def get_user(self, handler: JupyterHandler) -> HubUser | None:
        user = await super().get_user(handler)
        if user is not None:
            if not isinstance(user, HubUser):
                user = HubUser(user.hub_user)
                handler._jupyterhub_user = user  # type: ignore[attr-defined]  # (JupyterHub's cache)
            return user
        model = getattr(handler, "_cached_hub_user", None)  # (HubAuth's: who signed in, if anyone)
        if model:
            _refuse(handler, not_allowed_message(model, set(self.hub_auth.access_scopes)))
        return None


def _refuse(handler: JupyterHandler, message: str) -> None:
    """Make every refusal of ``handler``'s request a 403 that says ``message``.

    jupyter-server sends a visitor it does not know to the login page (the hub's, which
    would send a signed-in user straight back) or, on notebook-actions' API routes, says to
    send a token: for a user the hub knows but this service does not allow, both are wrong.
    (JupyterHub's provider replaces ``redirect`` the same way, with a message that cannot
    say what grants access.)
    """

    def refuse(*_args: Any, **_kwargs: Any) -> NoReturn:
        raise Problem(403, message)

    handler.redirect = refuse  # type: ignore[method-assign]
    if hasattr(handler, "no_credential"):  # notebook-actions' API routes (http._handlers.BaseHandler)
        handler.no_credential = lambda: Problem(403, message)
