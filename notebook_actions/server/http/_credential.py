"""The credential a request carries: what a request without a valid one is told, and what an
MCP session is bound to.

jupyter-server authenticates a request by its token (``Authorization: token …`` or
``Bearer …``, or ``?token=``) or by its login cookie. Its own ``IdentityProvider`` has one
token for everyone: a request that sends it without a login cookie gets a *new* anonymous
user, with a made-up name, every time. That name identifies nobody; the token does.
"""

from __future__ import annotations

import hashlib
import hmac

from jupyter_server.auth.identity import IdentityProvider
from jupyter_server.base.handlers import JupyterHandler

from ._visitors import ServeIdentityProvider, Visitor


def no_credential_message(handler: JupyterHandler, scheme: str = "token") -> str:
    """What a request with no valid credential is told (rather than "Forbidden", or that
    its XSRF token is missing: that is only for a browser that is logged in)."""
    sent = handler.identity_provider.get_token(handler)
    what = "the token sent is not this server's token" if sent else "the request carries no credential"
    return (
        f"{what}: send the server's token, as the header 'Authorization: {scheme} <token>' "
        "(`jupyter server list` shows each running server with its token; "
        "`jupyter notebook-actions serve` prints its URL with the token when it starts)"
    )


def _tokens_name_nobody(provider: IdentityProvider) -> bool:
    """Whether ``provider`` is jupyter-server's own kind, whose shared token comes with a
    made-up user (an IdentityProvider of another kind, such as JupyterHub's, names the
    user its tokens belong to)."""
    kind = type(provider)
    # (serve's own adds visitors, who are never token holders)
    own = kind.get_user in (IdentityProvider.get_user, ServeIdentityProvider.get_user)
    return own and kind.get_user_token is IdentityProvider.get_user_token


def session_owner(handler: JupyterHandler, key: bytes) -> str:
    """What an MCP session is bound to: a request may use a session only if it gives what
    the request that opened the session gave.

    The stable credential, never a name made up for one request: the shared token itself
    (as a keyed hash: the token is neither kept nor logged), or else the user that a login
    cookie or another IdentityProvider names. A server without authentication has no
    credential: every caller is the same one; nor do a public notebook's visitors.
    """
    provider = handler.identity_provider
    if isinstance(handler.current_user, Visitor):
        # Most MCP clients keep no cookies: each of their requests is a new visitor. The
        # session id is then the only secret, as on a server without authentication.
        return "visitors"
    if handler.token_authenticated and _tokens_name_nobody(provider):
        token = provider.get_token(handler) or ""
        return "token " + hmac.new(key, token.encode(), hashlib.sha256).hexdigest()
    if not provider.auth_enabled:
        return "anyone"
    return "user " + str(handler.current_user.username)
