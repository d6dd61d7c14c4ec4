"""Who a request is from, as the server authenticated it: the caller an invoke carries to the
kernel (``current_user()`` in the action), and the key the rate limit counts it under.

Only the authenticated identity counts (jupyter-server's ``current_user``, an
``IdentityProvider``'s ``User``); nothing the client sends (a ``user`` argument, an
``X-Forwarded-User`` header) is read. jupyter-server's own provider has one token (or password)
for everyone, which names nobody (``_credential``): whoever holds it is the server's user, as
a widget's caller is in JupyterLab. A public notebook's visitor (``_visitors``) is anonymous,
named by the signed cookie the server gave it.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.base.handlers import JupyterHandler

from ..._caller import server_user_name
from ..._protocol import CallerInfo, Via
from ._credential import _tokens_name_nobody
from ._visitors import Visitor


def caller_of(handler: JupyterHandler, via: Via) -> CallerInfo:
    """The caller of an authenticated request that came through ``via``: one function per
    source of identity."""
    user: Any = handler.current_user
    if isinstance(user, Visitor):
        return _visitor(user, via)
    provider = handler.identity_provider
    if not provider.auth_enabled:
        return _nobody(via)
    if _tokens_name_nobody(provider):
        return _token_holder(via)
    return _named_user(user, via)


def _visitor(user: Visitor, via: Via) -> CallerInfo:
    """A public notebook's anonymous visitor, named by its signed cookie (``_visitors``)."""
    name = str(user.username)
    return {"name": name, "display_name": user.display_name, "groups": None, "anonymous": True, "via": via}


def _nobody(via: Via) -> CallerInfo:
    """A server with no token and no password: anyone on the network."""
    return {"name": "anonymous", "display_name": "Anonymous", "groups": None, "anonymous": True, "via": via}


def _token_holder(via: Via) -> CallerInfo:
    """jupyter-server's one shared token (or password): whoever has it is the server's user."""
    name = server_user_name()
    return {"name": name, "display_name": name, "groups": None, "anonymous": False, "via": via}


def _named_user(user: Any, via: Via) -> CallerInfo:
    """The user an IdentityProvider of another kind names (JupyterHub's, say)."""
    name = str(user.username)
    display = getattr(user, "display_name", "") or getattr(user, "name", "") or name
    groups = getattr(user, "groups", None)  # JupyterHub's users have them; jupyter-server's do not
    return {
        "name": name,
        "display_name": str(display),
        "groups": [str(g) for g in groups] if isinstance(groups, (list, tuple, set, frozenset)) else None,
        "anonymous": False,
        "via": via,
    }


def limit_key(handler: JupyterHandler, caller: CallerInfo) -> str:
    """What the rate limit counts a request under: its identity, or its address when it has
    none (a visitor's cookie names nobody: a new one costs nothing)."""
    if caller["anonymous"]:
        return "address " + str(handler.request.remote_ip)
    return "user " + caller["name"]
