"""A kernel behind ``--gateway-url``, reached over a websocket of our own.

jupyter-server's ``GatewayKernelClient`` opens its websocket without the gateway's auth
headers (Enterprise Gateway answers 401) and reads every frame as JSON text (a frame
with binary buffers breaks it). This websocket is built from ``GatewayClient``'s
settings, as jupyter-server's own websocket proxy builds its one (auth token and
headers, certificates, ``ws_url``), runs on the event loop (no thread per kernel), and
speaks the protocol the gateway picks: ``v1.kernel.websocket.jupyter.org`` where it has
it (Kernel Gateway 3; Enterprise Gateway 3.3, whose jupyter-server 1.24 has it too),
the legacy protocol otherwise (older gateways, or one told to prefer it). Both carry
binary buffers.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, ClassVar, cast

from jupyter_client.session import json_packer
from jupyter_server.gateway.gateway_client import GatewayClient
from jupyter_server.services.kernels.connection import base as ws_formats
from jupyter_server.utils import url_escape, url_path_join
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClientConnection, WebSocketError, websocket_connect

from ..._protocol import Buffer
from .._errors import KernelGone, Upstream
from ._acks import acknowledge_at_once
from ._transport import KernelMessage, OnLost, OnMessage, new_header

#: The subprotocol of jupyter-server 2's kernel websocket; without it, the legacy one.
V1 = "v1.kernel.websocket.jupyter.org"

#: Largest frame accepted from the gateway (a ``bytes`` result travels in one frame).
#: tornado's code for a request that got no HTTP answer at all (timeout, reset, refused)
_NO_ANSWER = 599
MAX_MESSAGE_BYTES = 1 << 30

#: How often to ping the gateway: a gateway that vanished without closing the connection
#: (its machine gone) is noticed, and the connection's requests answered, within twice this.
PING_SECONDS = 30.0

# jupyter-server's own codecs for both protocols (it ships no type information for them).
_to_v1 = cast("Callable[[Sequence[Buffer], str], bytes]", ws_formats.serialize_msg_to_ws_v1)
_from_v1 = cast("Callable[[bytes], tuple[str, list[bytes]]]", ws_formats.deserialize_msg_from_ws_v1)
_to_legacy_binary = cast("Callable[[dict[str, Any]], bytes]", ws_formats.serialize_binary_message)
_from_legacy_binary = cast("Callable[[bytes], dict[str, Any]]", ws_formats.deserialize_binary_message)


@dataclass
class WireMessage:
    """A kernel message as it crosses the websocket: unsigned (the gateway signs)."""

    channel: str
    header: dict[str, Any]
    parent_header: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    content: dict[str, Any] = field(default_factory=dict)
    buffers: list[Buffer] = field(default_factory=list)

    @property
    def msg_type(self) -> str:
        return str(self.header.get("msg_type", ""))


def encode(protocol: str | None, msg: WireMessage) -> bytes | str:
    """One websocket frame: binary in v1 (and for buffers in legacy), JSON text otherwise."""
    parts = (msg.header, msg.parent_header, msg.metadata, msg.content)
    if protocol == V1:
        return _to_v1([*(json_packer(part) for part in parts), *msg.buffers], msg.channel)
    legacy = {
        "channel": msg.channel,
        "header": msg.header,
        "parent_header": msg.parent_header,
        "metadata": msg.metadata,
        "content": msg.content,
    }
    if msg.buffers:
        return _to_legacy_binary({**legacy, "buffers": msg.buffers})
    return json_packer(legacy).decode()


def decode(protocol: str | None, frame: bytes | str) -> WireMessage:
    if protocol == V1:
        channel, parts = _from_v1(cast("bytes", frame))
        header, parent, metadata, content = (json.loads(part) for part in parts[:4])
        return WireMessage(channel, header, parent, metadata, content, list(parts[4:]))
    msg = json.loads(frame) if isinstance(frame, str) else _from_legacy_binary(frame)
    return WireMessage(
        str(msg.get("channel", "")),
        msg.get("header") or {},
        msg.get("parent_header") or {},
        msg.get("metadata") or {},
        msg.get("content") or {},
        list(msg.get("buffers") or ()),
    )


class GatewayConnectionError(ConnectionError):
    """The websocket to the gateway could not be opened; ``message`` says why and what to do."""

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.message = message
        #: the gateway answered, and said no (its token or headers are wrong)
        self.refused = refused


def _refusal(err: HTTPClientError, url: str, kernel_id: str) -> GatewayConnectionError:
    reason = ""
    if err.response is not None and err.response.body:
        with contextlib.suppress(ValueError, AttributeError):
            reply = json.loads(err.response.body)
            reason = str(reply.get("message") or reply.get("reason") or "")
    detail = f"{err.code} {err.message}" + (f": {reason}" if reason else "")
    if err.code in (401, 403):
        message = (
            f"the kernel gateway at {url} refused the connection to kernel {kernel_id} ({detail}): "
            "give this server the gateway's token with --GatewayClient.auth_token (or "
            "JUPYTER_GATEWAY_AUTH_TOKEN), or the headers it expects with --GatewayClient.headers"
        )
        return GatewayConnectionError(message, refused=True)
    if err.code == HTTPStatus.NOT_FOUND:
        message = f"the kernel gateway at {url} has no kernel {kernel_id}: it was shut down or culled"
        return GatewayConnectionError(message)
    message = f"the kernel gateway at {url} did not open a connection to kernel {kernel_id} ({detail})"
    return GatewayConnectionError(
        message, refused=HTTPStatus.BAD_REQUEST <= err.code < HTTPStatus.INTERNAL_SERVER_ERROR
    )


class GatewaySocket:
    """One websocket to one kernel's channels on the gateway.

    ``on_message`` gets every message the gateway relays (all channels);
    ``on_close`` gets a reason once, when the connection closes without ``close()``.
    """

    #: ACK the gateway's frames at once (``acknowledge_at_once``); off with
    #: ``NotebookActions.tcp_nodelay = False``.
    quick_acks: ClassVar[bool] = True

    def __init__(
        self,
        kernel_id: str,
        on_message: Callable[[WireMessage], None],
        on_close: Callable[[str], None],
        log: logging.Logger,
    ) -> None:
        self.kernel_id = kernel_id
        self._on_message = on_message
        self._on_close = on_close
        self._log = log
        self._conn: WebSocketClientConnection | None = None
        self._early: list[bytes | str] = []
        self.protocol: str | None = None
        self.is_open = False
        self._closed = False

    async def connect(self) -> None:
        """Open the websocket; ``GatewayConnectionError`` if the gateway cannot be reached or says no."""
        gateway = GatewayClient.instance()
        base = gateway.ws_url or ""
        url = url_path_join(base, gateway.kernels_endpoint, url_escape(self.kernel_id), "channels")
        # A session of our own: jupyter-server replays a session's missed messages to it.
        url += f"?session_id={uuid.uuid4().hex}"
        request = HTTPRequest(url, **gateway.load_connection_args())  # type: ignore[no-untyped-call]
        try:
            conn = await websocket_connect(
                request,
                on_message_callback=self._receive,
                subprotocols=[V1],
                max_message_size=MAX_MESSAGE_BYTES,
                ping_interval=PING_SECONDS,
            )
        except HTTPClientError as err:
            if err.code == _NO_ANSWER:  # tornado's code for "no HTTP answer" (timeout, reset)
                message = f"could not reach the kernel gateway at {base}: {err.message}"
                raise GatewayConnectionError(message) from None
            raise _refusal(err, base, self.kernel_id) from None
        except (OSError, StreamClosedError, WebSocketError) as err:
            message = f"could not reach the kernel gateway at {base}: {err}"
            raise GatewayConnectionError(message) from None
        if self._closed:  # closed (or lost) while connecting
            conn.close()
            message = f"the connection to the kernel gateway at {base} closed as it opened"
            raise GatewayConnectionError(message)
        self._conn = conn
        self.protocol = conn.selected_subprotocol
        self._log.debug(
            "notebook_actions: kernel %s over %s (%s protocol)", self.kernel_id, base, self.protocol or "legacy"
        )
        self.is_open = True
        stream = getattr(conn.protocol, "stream", None)
        if stream is not None:
            if self.quick_acks:
                acknowledge_at_once(stream)  # the gateway's reply must not wait for our ACK
            else:
                # Requests are small frames: do not hold one back for the last one's ACK.
                stream.set_nodelay(True)
        early, self._early = self._early, []
        for frame in early:
            self._receive(frame)

    def _receive(self, frame: bytes | str | None) -> None:
        if self._closed:
            return
        if frame is None:
            self._lost()
            return
        if self._conn is None:  # the first frames can come before connect() returns
            self._early.append(frame)
            return
        try:
            msg = decode(self.protocol, frame)
        except (ValueError, KeyError, IndexError, TypeError):
            self._log.warning("notebook_actions: dropped a gateway message it could not read")
            return
        self._on_message(msg)

    def _lost(self) -> None:
        conn = self._conn
        code = conn.close_code if conn is not None else None
        reason = conn.close_reason if conn is not None else None
        self.close()
        if code is not None:
            message = f"the connection to the kernel gateway closed ({code}{': ' + reason if reason else ''})"
        else:
            message = (
                "the connection to the kernel gateway closed: the kernel was shut down, the gateway "
                "stopped, or a message was over the gateway's websocket size limit (10 MiB by default)"
            )
        self._on_close(message)

    def send(self, msg: WireMessage) -> None:
        conn = self._conn
        if conn is None or not self.is_open:
            message = "the connection to the kernel gateway is closed"
            raise ConnectionError(message)
        frame = encode(self.protocol, msg)
        written = conn.write_message(frame, binary=isinstance(frame, bytes))
        written.add_done_callback(_retrieve)  # a failed write shows as the connection closing

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.is_open = False
        if self._conn is not None:
            self._conn.close()


def _retrieve(future: Any) -> None:
    if not future.cancelled():
        future.exception()


class GatewayRefused(Upstream):
    """The gateway refused the connection (its token or headers): the server's config is wrong."""


class GatewayTransport:
    """The bridge's transport for a kernel behind a gateway: its iopub and shell over ``GatewaySocket``."""

    def __init__(self, kernel_id: str, log: logging.Logger) -> None:
        self._kernel_id = kernel_id
        self._log = log
        self._socket: GatewaySocket | None = None
        self._session = uuid.uuid4().hex
        self._on_message: OnMessage = lambda _msg: None

    async def start(self, on_message: OnMessage, on_lost: OnLost) -> None:
        self._on_message = on_message
        socket = self._socket = GatewaySocket(self._kernel_id, self._receive, on_lost, self._log)
        try:
            await socket.connect()
        except GatewayConnectionError as err:
            raise (GatewayRefused if err.refused else KernelGone)(err.message) from None

    async def open_subshell(self) -> str | None:
        # Gateways need not pass subshell ids on: requests go to the main shell, and
        # threadsafe actions wait for a running cell like the others.
        return None

    def _receive(self, msg: WireMessage) -> None:
        # Shell replies (to kernel_info nudges) are not needed; jupyter-server relays the
        # kernel's whole iopub, where the bridge picks its comm's messages and statuses.
        if msg.channel == "iopub":
            parent = msg.parent_header.get("msg_id", "")
            self._on_message(KernelMessage(msg.msg_type, str(parent), msg.content, msg.buffers))

    def send(self, msg_type: str, content: dict[str, Any], buffers: Sequence[Buffer] = ()) -> str:
        socket = self._socket
        if socket is None:
            message = "the connection to the kernel is closed"
            raise ConnectionError(message)
        header = new_header(msg_type, self._session)
        msg_id: str = header["msg_id"]
        socket.send(WireMessage("shell", header, content=content, buffers=list(buffers)))
        return msg_id

    def close(self, process_gone: bool = False) -> None:  # noqa: ARG002  # the transports' one signature
        if self._socket is not None:
            self._socket.close()
