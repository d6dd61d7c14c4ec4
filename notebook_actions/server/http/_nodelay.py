"""TCP_NODELAY on kernel websockets.

jupyter-server writes a kernel's ``busy`` status and its reply as two small websocket
frames; with Nagle's algorithm the second waits for the browser's delayed ACK, about
40 ms. The extension wraps the server's kernel websocket connection class (the local
one, or the gateway one) so that every connection sets TCP_NODELAY when it opens.
"""

from __future__ import annotations

from typing import Any


def nodelay_connection_class(base: type[Any]) -> type[Any]:
    """A subclass of ``base`` that sets TCP_NODELAY on its websocket when it connects."""
    if getattr(base, "_notebook_actions_nodelay", False):
        return base

    def connect(self: Any) -> Any:
        self.websocket_handler.set_nodelay(True)
        return base.connect(self)

    return type(
        base.__name__,
        (base,),
        {
            "__module__": __name__,
            "__doc__": f"{base.__name__}, with TCP_NODELAY set on the websocket.",
            "_notebook_actions_nodelay": True,
            "connect": connect,
        },
    )
