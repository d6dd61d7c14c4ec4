"""Who a request is from, as the server authenticated it: the caller an invoke carries to the
kernel (``current_user()`` in the action), and the key the rate limit counts it under.

Only the authenticated identity counts (jupyter-server's ``current_user``, an
``IdentityProvider``'s ``User``); nothing the client sends (a ``user`` argument, an
``X-Forwarded-User`` header) is read. jupyter-server's own provider has one token (or password)
for everyone, which names nobody (``_credential``): whoever holds it is the server's user, as
a widget's caller is in JupyterLab.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.base.handlers import JupyterHandler

from .._caller import server_user_name
from .._protocol import CallerInfo, Via
from ._credential import _tokens_name_nobody


def caller_of(handler: JupyterHandler, via: Via) -> CallerInfo:
    """The caller of an authenticated request that came through ``via``."""
    provider = handler.identity_provider
    if not provider.auth_enabled:  # no token, no password: anyone on the network
        return {"name": "anonymous", "display_name": "Anonymous", "groups": None, "anonymous": True, "via": via}
    if _tokens_name_nobody(provider):
        name = server_user_name()
        return {"name": name, "display_name": name, "groups": None, "anonymous": False, "via": via}
    user: Any = handler.current_user
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
    """What the rate limit counts a request under: its identity, or its address when it has none."""
    if caller["anonymous"]:
        return "address " + str(handler.request.remote_ip)
    return "user " + caller["name"]
