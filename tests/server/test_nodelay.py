"""TCP_NODELAY on kernel websockets, checked on the server's end of a live connection."""

from __future__ import annotations

import gc
import json
import socket
import uuid
from typing import Any

import pytest
from jupyter_server.services.kernels.websocket import KernelWebsocketHandler

from .conftest import Kernel, server_test


def server_sockets() -> list[socket.socket]:
    handlers = [obj for obj in gc.get_objects() if isinstance(obj, KernelWebsocketHandler)]
    streams = [h.ws_connection.stream for h in handlers if h.ws_connection is not None]
    return [stream.socket for stream in streams if stream is not None]


async def kernel_info(ws: Any) -> dict[str, Any]:
    msg_id = uuid.uuid4().hex
    ws.write_message(
        json.dumps(
            {
                "header": {
                    "msg_id": msg_id,
                    "msg_type": "kernel_info_request",
                    "username": "",
                    "session": "s",
                    "version": "5.3",
                    "date": "",
                },
                "parent_header": {},
                "metadata": {},
                "content": {},
                "channel": "shell",
                "buffers": [],
            }
        )
    )
    while True:
        reply = json.loads(await ws.read_message())
        if reply["parent_header"].get("msg_id") == msg_id and reply["msg_type"] == "kernel_info_reply":
            return dict(reply["content"])


@server_test
async def test_kernel_websockets_set_tcp_nodelay(jp_fetch: Any, jp_ws_fetch: Any, bare_kernel: Kernel) -> None:
    ws = await jp_ws_fetch("api", "kernels", bare_kernel.id, "channels", params={"session_id": "s"})
    try:
        assert (await kernel_info(ws))["status"] == "ok"  # the wrapped connection works as before
        sockets = server_sockets()
        assert len(sockets) == 1
        assert sockets[0].getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        ws.close()


@pytest.mark.parametrize("notebook_actions_config", [{"tcp_nodelay": False}])
@server_test
async def test_tcp_nodelay_can_be_turned_off(jp_fetch: Any, jp_ws_fetch: Any, bare_kernel: Kernel) -> None:
    ws = await jp_ws_fetch("api", "kernels", bare_kernel.id, "channels", params={"session_id": "s"})
    try:
        assert (await kernel_info(ws))["status"] == "ok"
        sockets = server_sockets()
        assert len(sockets) == 1
        assert sockets[0].getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
    finally:
        ws.close()
