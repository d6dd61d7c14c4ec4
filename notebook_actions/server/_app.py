"""Loading the extension into a running jupyter server."""

from __future__ import annotations

from typing import Any

from ._config import NotebookActions
from ._gateway_client import use_websocket_clients
from ._handlers import Extension, handlers
from ._kernels import KERNEL_ACTIONS_SCHEMA, Bridges
from ._mcp_handlers import load as load_mcp
from ._nodelay import nodelay_connection_class


def load(serverapp: Any) -> None:
    config = NotebookActions(parent=serverapp)
    # Through a gateway, kernel clients (nbclient's, for one) talk over our websocket.
    use_websocket_clients(serverapp.kernel_manager)
    bridges = Bridges(serverapp.kernel_manager, serverapp.log)
    web_app = serverapp.web_app
    web_app.settings["notebook_actions"] = Extension(config, bridges)
    web_app.add_handlers(".*$", handlers(web_app.settings["base_url"]))
    load_mcp(serverapp, config.max_body_bytes)
    serverapp.event_logger.add_listener(schema_id=KERNEL_ACTIONS_SCHEMA, listener=bridges.on_kernel_action)
    if config.tcp_nodelay:
        key = "kernel_websocket_connection_class"
        current = web_app.settings.get(key)
        if current is not None:
            web_app.settings[key] = nodelay_connection_class(current)
    serverapp.log.info("notebook_actions | HTTP endpoints at %snotebook-actions/api/", web_app.settings["base_url"])
