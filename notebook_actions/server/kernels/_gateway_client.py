"""A kernel client for kernels behind ``--gateway-url`` whose channels run over ``GatewaySocket``.

Whatever asks the server's kernel manager for a client (``manager.client()``), as nbclient
does to execute a notebook, gets jupyter-server's ``GatewayKernelClient`` through a
gateway: its websocket carries no auth header (Enterprise Gateway with a token answers
401) and no binary frames. When the extension loads in gateway mode it makes the
server's gateway kernel managers hand out this client instead; its channels are asyncio
queues fed by one websocket on the event loop.
"""

from __future__ import annotations

import asyncio
import queue
from typing import Any

from jupyter_server.gateway.managers import GatewayKernelClient, GatewayKernelManager, GatewayMappingKernelManager
from traitlets import DottedObjectName, Type
from typing_extensions import override

from ._gateway_ws import GatewayConnectionError, GatewaySocket, WireMessage

#: The kernel manager class jupyter-server's gateway mapping manager uses unless configured.
STOCK_MANAGER = "jupyter_server.gateway.managers.GatewayKernelManager"


class WebsocketChannel:
    """One channel of ``WebsocketKernelClient``: what the gateway relays on it, queued."""

    def __init__(self, name: str, client: WebsocketKernelClient) -> None:
        self.channel_name = name
        self._client = client
        self._queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    def put(self, msg: dict[str, Any] | None) -> None:
        self._queue.put_nowait(msg)

    async def get_msg(self, timeout: float | None = None) -> dict[str, Any]:
        """The next message; ``queue.Empty`` after ``timeout`` seconds, as jupyter_client's channels."""
        if not self._queue.empty():  # also with a timeout of 0
            msg = self._queue.get_nowait()
        else:
            try:
                msg = await asyncio.wait_for(self._queue.get(), timeout)
            except asyncio.TimeoutError:
                raise queue.Empty from None
        if msg is None:  # the connection closed: tell every later reader too
            self._queue.put_nowait(None)
            message = f"the connection to the kernel gateway closed ({self._client.lost or 'closed'})"
            raise RuntimeError(message)
        return msg

    async def get_msgs(self) -> list[dict[str, Any]]:
        msgs = []
        while not self._queue.empty():
            msg = self._queue.get_nowait()
            if msg is None:
                self._queue.put_nowait(None)
                break
            msgs.append(msg)
        return msgs

    async def msg_ready(self) -> bool:
        return not self._queue.empty()

    def send(self, msg: dict[str, Any]) -> None:
        self._client.send_on(self.channel_name, msg)

    def start(self) -> None:
        """Nothing to start: the client's websocket carries every channel."""

    def stop(self) -> None:
        """Nothing to stop: the client closes its websocket."""

    def close(self) -> None:
        """Nothing to close: the client closes its websocket."""

    def is_alive(self) -> bool:
        return self._client.connected

    def is_beating(self) -> bool:
        """For the heartbeat channel: the gateway watches the kernel's heartbeat itself."""
        return self._client.connected


class WebsocketKernelClient(GatewayKernelClient):
    """jupyter-server's gateway kernel client with channels over our own websocket."""

    def __init__(self, kernel_id: str, **kwargs: Any) -> None:
        super().__init__(kernel_id, **kwargs)  # type: ignore[no-untyped-call]
        self._socket: GatewaySocket | None = None
        self._channels: dict[str, WebsocketChannel] = {}
        #: why the connection closed, when it closed on its own
        self.lost: str | None = None

    @override
    async def start_channels(  # type: ignore[override]  # async, as GatewayKernelClient's
        self, shell: bool = True, iopub: bool = True, stdin: bool = True, hb: bool = True, control: bool = True
    ) -> None:
        if self._socket is not None:
            return
        socket = GatewaySocket(str(self.kernel_id), self._route, self._on_lost, self.log)
        try:
            await socket.connect()
        except GatewayConnectionError as err:
            raise RuntimeError(err.message) from None
        self._socket = socket
        self.allow_stdin = stdin

    def stop_channels(self) -> None:
        socket, self._socket = self._socket, None
        if socket is not None:
            socket.close()
        for channel in self._channels.values():
            channel.put(None)

    @property
    def connected(self) -> bool:
        return self._socket is not None and self._socket.is_open

    @property
    def channels_running(self) -> bool:
        return self.connected

    def _channel(self, name: str) -> WebsocketChannel:
        channel = self._channels.get(name)
        if channel is None:
            channel = self._channels[name] = WebsocketChannel(name, self)
        return channel

    @property
    def shell_channel(self) -> WebsocketChannel:
        return self._channel("shell")

    @property
    def iopub_channel(self) -> WebsocketChannel:
        return self._channel("iopub")

    @property
    def stdin_channel(self) -> WebsocketChannel:
        return self._channel("stdin")

    @property
    def control_channel(self) -> WebsocketChannel:
        return self._channel("control")

    @property
    def hb_channel(self) -> WebsocketChannel:
        return self._channel("hb")

    async def _async_is_alive(self) -> bool:
        # The gateway owns the kernel's process: while it relays for it, it is alive.
        return self.connected

    is_alive = _async_is_alive

    def send_on(self, channel: str, msg: dict[str, Any]) -> None:
        socket = self._socket
        if socket is None:
            message = "the kernel client's channels are not started (or were stopped)"
            raise RuntimeError(message)
        socket.send(
            WireMessage(
                channel,
                msg["header"],
                msg.get("parent_header") or {},
                msg.get("metadata") or {},
                msg.get("content") or {},
                list(msg.get("buffers") or ()),
            )
        )

    def _route(self, msg: WireMessage) -> None:
        self._channel(msg.channel or "shell").put(
            {
                "header": msg.header,
                "msg_id": msg.header.get("msg_id"),
                "msg_type": msg.msg_type,
                "parent_header": msg.parent_header,
                "metadata": msg.metadata,
                "content": msg.content,
                "buffers": msg.buffers,
                "channel": msg.channel,
            }
        )

    def _on_lost(self, reason: str) -> None:
        self.lost = reason
        self._socket = None
        for channel in self._channels.values():
            channel.put(None)


class WebsocketGatewayKernelManager(GatewayKernelManager):
    """jupyter-server's gateway kernel manager, handing out ``WebsocketKernelClient``."""

    client_class = DottedObjectName(f"{__name__}.WebsocketKernelClient")
    client_factory = Type(klass=f"{__name__}.WebsocketKernelClient")


def use_websocket_clients(kernel_manager: Any) -> bool:
    """Make a gateway mapping kernel manager's kernels hand out ``WebsocketKernelClient``.

    A kernel manager class the user configured is left alone. Whether it was made so.
    """
    if not isinstance(kernel_manager, GatewayMappingKernelManager):
        return False
    if kernel_manager.kernel_manager_class != STOCK_MANAGER:
        return False
    kernel_manager.kernel_manager_class = f"{__name__}.WebsocketGatewayKernelManager"
    return True
