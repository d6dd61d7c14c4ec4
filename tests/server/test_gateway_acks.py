"""Our side of every websocket to Enterprise Gateway 3.3 ACKs at once (TCP_NODELAY, and
TCP_QUICKACK set again after each read): the bridge's, a kernel client's (as priming
uses), and the one jupyter-server opens for a browser's kernel websocket. Without it,
EG's reply frames wait ~40 ms for our delayed ACK (see ``_acks``); the benchmark
``s10_gateway`` measures that, this checks the options on the live sockets.

Runs against main's kernels (the gateway's kernelspec runs main's Python): the change is
all in this server."""

from __future__ import annotations

import asyncio
import gc
import socket
from typing import Any

import pytest
from jupyter_server.gateway.connections import GatewayWebSocketConnection
from tornado.websocket import WebSocketClientConnection

from notebook_actions.server.kernels._gateway_ws import GatewaySocket

from ._gateways import Gateway, enterprise_gateway, gateway_argv  # noqa: F401 (fixture)
from .conftest import Kernel, body, invoke, server_test
from .test_nodelay import kernel_info


@pytest.fixture
def jp_argv(enterprise_gateway: Gateway) -> list[str]:  # noqa: F811
    return gateway_argv(enterprise_gateway)


def live(kind: type[Any]) -> list[Any]:
    return [obj for obj in gc.get_objects() if isinstance(obj, kind)]


async def acks_at_once(conn: WebSocketClientConnection) -> bool:
    """Whether the socket has TCP_NODELAY, and TCP_QUICKACK again right after a read.

    The test first turns quick ACKs off (delayed-ACK mode, which the kernel itself enters
    on an interactive connection), then reads the gateway's pong: on old code the flag
    stays off until the delayed-ACK timer fires (40 ms on); set again after the read, on.
    """
    stream = conn.protocol.stream  # type: ignore[union-attr]
    assert stream is not None
    sock = stream.socket
    assert sock is not None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 0)
    pong: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
    conn.on_pong = pong.set_result  # type: ignore[method-assign,assignment]
    conn.ping(b"ack?")
    assert await asyncio.wait_for(pong, 30) == b"ack?"
    nodelay = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    quickack = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK) != 0
    return nodelay and quickack


@server_test
async def test_every_websocket_to_the_gateway_acks_at_once(
    jp_fetch: Any, jp_ws_fetch: Any, jp_serverapp: Any, remote_kernel: Kernel
) -> None:
    # the bridge's websocket, after a few calls
    for a in range(3):
        assert body(await invoke(jp_fetch, remote_kernel, "add", {"a": a})) == {"value": a + 2}
    # a kernel client of the server's kernel manager (as priming and nbclient use)
    client = jp_serverapp.kernel_manager.get_kernel(remote_kernel.id).client()
    await client.start_channels()
    # a browser's kernel websocket, which jupyter-server proxies to the gateway
    ws = await jp_ws_fetch("api", "kernels", remote_kernel.id, "channels", params={"session_id": "s"})
    try:
        assert (await kernel_info(ws))["status"] == "ok"
        ours = [s._conn for s in live(GatewaySocket) if s.is_open]
        assert len(ours) == 2  # the bridge's and the client's
        proxied = [c.ws for c in live(GatewayWebSocketConnection) if c.ws is not None]
        assert len(proxied) == 1
        for conn in [*ours, *proxied]:
            assert await acks_at_once(conn)
    finally:
        ws.close()
        client.stop_channels()
