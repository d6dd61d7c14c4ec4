"""``jupyter notebook-actions serve`` as a JupyterHub service: visitors sign in with the hub.

JupyterHub runs a service (``c.JupyterHub.services``) with its settings in the environment
(``JUPYTERHUB_SERVICE_NAME``, ``JUPYTERHUB_API_TOKEN``, ``JUPYTERHUB_SERVICE_PREFIX``,
``JUPYTERHUB_SERVICE_URL``, ...; the admin of an external service sets them), and its proxy
sends ``{hub}/services/{name}/`` there. On such a server ``serve``:

- authenticates with the hub's OAuth (``_hub_identity.HubIdentityProvider``: JupyterHub's
  own ``HubOAuth``, driven as its single-user server extension drives it). A browser with
  no session goes to the hub's login and comes back signed in; a program sends a hub API
  token. Only users whose hub scopes include the service's access scope
  (``access:services!service={name}``, granted by a role) get in; the others get 403;
- listens where the hub expects it: its base_url is ``JUPYTERHUB_SERVICE_PREFIX``, its ip
  and port ``JUPYTERHUB_SERVICE_URL``'s (each unless configured).

It is on by itself when the environment names a service (``JUPYTERHUB_SERVICE_NAME`` and
``JUPYTERHUB_API_TOKEN``). A user's single-user server has a token, a prefix and a URL in its
environment too, but no service name: ``serve`` run in its terminal stays a server of its own
(the prefix and port there are the user server's). ``NotebookActions.jupyterhub``
(``--jupyterhub``) forces it on (a missing variable is then an error) or off.

jupyterhub is imported only on a hub's service: it is an optional dependency.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from jupyter_server.serverapp import ServerApp

from .._config import NotebookActions

SERVICE_NAME = "JUPYTERHUB_SERVICE_NAME"
API_TOKEN = "JUPYTERHUB_API_TOKEN"  # noqa: S105 (the variable's name, not a token)
SERVICE_PREFIX = "JUPYTERHUB_SERVICE_PREFIX"
SERVICE_URL = "JUPYTERHUB_SERVICE_URL"
#: the identity provider of a hub's service, by name: importing it imports jupyterhub
IDENTITY_PROVIDER = "notebook_actions.server.http._hub_identity.HubIdentityProvider"


class HubSetupError(Exception):
    """``serve`` was told to be a JupyterHub service, but cannot be one."""


def is_hub_service(option: bool | None, environ: Mapping[str, str]) -> bool:
    """Whether ``serve`` runs as a JupyterHub service: ``option`` (``NotebookActions.jupyterhub``)
    if it says, else whether ``environ`` names a service."""
    if option is False:
        return False
    missing = [name for name in (SERVICE_NAME, API_TOKEN) if not environ.get(name)]
    if option is None:
        return not missing
    if missing:
        raise HubSetupError(
            f"--jupyterhub (NotebookActions.jupyterhub) needs {' and '.join(missing)} in the environment: "
            "JupyterHub sets them for a service it runs (c.JupyterHub.services with a 'command'); for an "
            "external service set JUPYTERHUB_SERVICE_NAME to its name and JUPYTERHUB_API_TOKEN to its "
            "'api_token' in jupyterhub_config.py (and JUPYTERHUB_API_URL, JUPYTERHUB_SERVICE_URL: see "
            "docs/jupyterhub.md)"
        )
    try:
        import jupyterhub  # noqa: F401
    except ImportError:
        raise HubSetupError(
            "--jupyterhub needs the jupyterhub package in serve's environment: "
            "pip install 'notebook-actions[jupyterhub]'"
        ) from None
    return True


def hub_server_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    """The ServerApp settings of a hub's service, from the environment the hub gives it."""
    name = environ[SERVICE_NAME]
    settings: dict[str, Any] = {
        "identity_provider_class": IDENTITY_PROVIDER,
        # The proxy keeps the prefix in the path it forwards: the routes must be under it.
        "base_url": environ.get(SERVICE_PREFIX) or f"/services/{name}/",
        # Requests come through the hub's proxy, with the hub's public host in Host.
        "allow_remote_access": True,
        # The hub (and its proxy) expect the service at its URL, not at the next free port.
        "port_retries": 0,
        "open_browser": False,
    }
    url = urlparse(environ.get(SERVICE_URL, ""))
    if url.hostname:
        settings["ip"] = url.hostname
    if url.port:
        settings["port"] = url.port
    elif url.scheme in ("http", "https"):
        settings["port"] = 80 if url.scheme == "http" else 443
    return settings


class HubServiceServer(ServerApp):
    """A ServerApp that, as a JupyterHub service, signs visitors in with the hub's OAuth and
    listens where the hub expects it (serve's server: ``ServeServerApp``)."""

    #: whether this server runs as a hub's service (known once its configuration is loaded)
    hub_service = False

    def load_config_file(self, *args: Any, **kwargs: Any) -> None:
        super().load_config_file(*args, **kwargs)
        # The command line and the config files are in self.config now; the hub's environment
        # fills in what they do not set.
        try:
            self.hub_service = is_hub_service(NotebookActions(parent=self).jupyterhub, os.environ)
        except HubSetupError as err:
            self.log.critical("%s", err)
            self.exit(1)
        if not self.hub_service:
            return
        configured = self.config.ServerApp
        for key, value in hub_server_settings(os.environ).items():
            if key not in configured:
                setattr(self, key, value)
        self.log.info("notebook_actions | a JupyterHub service: visitors sign in with the hub (%s)", self.base_url)

    def init_webapp(self) -> None:
        super().init_webapp()
        if self.hub_service:
            # HubOAuth's XSRF check (patched into jupyter-server's handlers) cannot tell a
            # token-authenticated request before the handler has authenticated it: tornado's
            # own check, which runs before that, is off (as JupyterHub's single-user server
            # does); jupyter-server checks every request again once it knows who sent it.
            self.web_app.settings["xsrf_cookies"] = False
