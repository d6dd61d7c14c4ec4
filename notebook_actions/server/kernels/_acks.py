"""ACKs at once on our websockets to a kernel gateway.

Enterprise Gateway 3.3 writes a kernel's ``busy`` status, its reply and its ``idle``
status as separate small websocket frames, without TCP_NODELAY on its end: Nagle's
algorithm holds the reply back until our side ACKs ``busy``, and Linux delays that ACK
(about 40 ms) hoping to send it with data. So every call through such a gateway took
about 40 ms longer than the kernel needed. Setting TCP_QUICKACK on our end makes the
ACK go at once; the kernel clears the flag as it sees fit (when the connection looks
interactive), so it is set again after every read. TCP_NODELAY on our end keeps our
own small frames (a request right after another) from waiting for the gateway's ACK.

Applied wherever this server owns or wraps a client websocket to a gateway: the
bridge's and the priming client's (``GatewaySocket``), and the one jupyter-server's
``GatewayWebSocketConnection`` opens for a browser's kernel websocket.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from typing import Any

#: Linux only; elsewhere the ACK timing is the system's (TCP_NODELAY is still set).
QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)


def acknowledge_at_once(stream: Any) -> None:
    """Set TCP_NODELAY on a tornado ``IOStream``, and TCP_QUICKACK after each of its reads."""
    stream.set_nodelay(True)
    sock = getattr(stream, "socket", None)
    if QUICKACK is None or sock is None or getattr(stream, "_notebook_actions_quickack", False):
        return
    _quickack(sock)
    read: Callable[[Any], int | None] = stream.read_from_fd

    def read_from_fd(buf: Any) -> int | None:
        try:
            return read(buf)
        finally:
            _quickack(sock)

    stream.read_from_fd = read_from_fd
    stream._notebook_actions_quickack = True


def _quickack(sock: socket.socket) -> None:
    if QUICKACK is None:  # acknowledge_at_once checked; for the type checker
        return
    # closed under us, or not TCP (a Unix socket): nothing to acknowledge
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)


def quick_ack_connection_class(base: type[Any]) -> type[Any]:
    """A subclass of jupyter-server's ``GatewayWebSocketConnection`` (``base``) whose
    websocket to the gateway acknowledges at once (see the module docstring)."""
    if getattr(base, "_notebook_actions_quickack", False):
        return base

    def connection_done(self: Any, future: Any) -> None:
        base._connection_done(self, future)
        stream = getattr(getattr(self.ws, "protocol", None), "stream", None)
        if stream is not None:
            acknowledge_at_once(stream)

    return type(
        base.__name__,
        (base,),
        {
            "__module__": __name__,
            "__doc__": f"{base.__name__}, whose websocket to the gateway acknowledges at once.",
            "_notebook_actions_quickack": True,
            "_connection_done": connection_done,
        },
    )
