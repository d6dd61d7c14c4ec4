"""Loading the extension into a running jupyter server."""

from __future__ import annotations

from typing import Any

from jupyter_server.gateway.connections import GatewayWebSocketConnection
from jupyter_server.utils import url_path_join

from .._routes import actions_path
from ._config import NotebookActions
from ._service import ActionService
from .apps._page import app_handlers
from .http._drain import Drain
from .http._handlers import handlers
from .http._health import health_handlers
from .http._nodelay import nodelay_connection_class
from .http._not_found import not_found_handlers
from .http._status import status_handlers
from .http._visitors import serves_visitors
from .kernels._acks import quick_ack_connection_class
from .kernels._bridges import KERNEL_ACTIONS_SCHEMA, Bridges
from .kernels._gateway_client import use_websocket_clients
from .kernels._gateway_ws import GatewaySocket
from .mcp._handlers import load as load_mcp
from .serving._pool import Services
from .serving._pools import Serving


def load(serverapp: Any, notebooks: list[str] | None = None, *, headless: bool = False) -> ActionService:
    """Add the routes to ``serverapp`` and serve the configured notebooks, and ``notebooks``
    (``headless``: the server is serve's, with no UI)."""
    config = NotebookActions(parent=serverapp)
    if notebooks:
        config.serve = [*config.serve, *notebooks]
    if config.public and not serves_visitors(serverapp):
        serverapp.log.warning(
            "notebook_actions | NotebookActions.public is ignored: only `jupyter notebook-actions serve` "
            "(its identity provider) lets anonymous visitors in; every route still needs the token"
        )
    # Through a gateway, kernel clients (nbclient's, for one) talk over our websocket.
    use_websocket_clients(serverapp.kernel_manager)
    bridges = Bridges(serverapp.kernel_manager, serverapp.log)
    services = Services(serverapp.kernel_manager, serverapp.contents_manager, bridges, config, serverapp.log)
    serving = Serving(services, list(config.serve), config.kernels_per_notebook, headless=headless)
    web_app = serverapp.web_app
    service = web_app.settings["notebook_actions"] = ActionService(
        config,
        serverapp.kernel_manager,
        serverapp.session_manager,
        bridges,
        serving,
        base_url=web_app.settings["base_url"],
    )
    base_url = web_app.settings["base_url"]
    web_app.settings["notebook_actions_drain"] = Drain()
    web_app.add_handlers(".*$", handlers(base_url) + status_handlers(base_url) + health_handlers(base_url))
    web_app.add_handlers(".*$", app_handlers(base_url))
    load_mcp(serverapp, service)
    web_app.add_handlers(".*$", not_found_handlers(base_url))  # last: after every route of ours
    serverapp.event_logger.add_listener(schema_id=KERNEL_ACTIONS_SCHEMA, listener=bridges.on_kernel_action)
    serverapp.event_logger.add_listener(schema_id=KERNEL_ACTIONS_SCHEMA, listener=serving.on_kernel_action)
    GatewaySocket.quick_acks = config.tcp_nodelay
    if config.tcp_nodelay:
        key = "kernel_websocket_connection_class"
        current = web_app.settings.get(key)
        if current is not None:
            if issubclass(current, GatewayWebSocketConnection):
                current = quick_ack_connection_class(current)  # its websocket to the gateway
            web_app.settings[key] = nodelay_connection_class(current)  # the browser's websocket
    # Pools start once the server's event loop runs.
    serverapp.io_loop.add_callback(serving.start)
    serverapp.log.info("notebook_actions | HTTP endpoints at %snotebook-actions/api/", base_url)
    for path in serving.pools:
        actions = url_path_join(base_url, actions_path(notebook=path))
        serverapp.log.info("notebook_actions | serving %s: its actions at %s", path, actions)
    return service
