"""How a bridge reaches its kernel.

Two transports behind one small interface. A local kernel's client (the kernel
manager's ``client()``) gives ZMQ sockets: the bridge subscribes its own iopub socket
to its comm's topic and to the kernel's status topic only, so the server never decodes
the kernel's other output for it. A remote kernel behind ``--gateway-url`` is reached
over a websocket to the gateway (``_gateway_ws``), built from ``GatewayClient``'s settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol, cast

import zmq
import zmq.asyncio
from jupyter_client._version import protocol_version
from jupyter_client.session import Session

from ..._protocol import Buffer

DELIMITER = b"<IDS|MSG>"
#: after the delimiter: signature, header, parent header, metadata, content (then buffers)
_SIGNED_PARTS = 5

#: Buffers at least this large are sent without a copy.
COPY_THRESHOLD = 1 << 16

#: How long a closed socket may keep trying to deliver its last messages (a comm_close).
LINGER_MS = 1000

#: How long to wait for the kernel's control channel to make a subshell (it answers
#: while a cell runs; a kernel that does not know the request never answers).
SUBSHELL_TIMEOUT = 5.0


class Unencodable(ValueError):
    """A message's content cannot be coded for the wire (nesting too deep for the JSON
    encoder, a lone surrogate, a NaN): that message fails, the connection is fine."""


@dataclass
class KernelMessage:
    """The parts of an iopub message a bridge looks at."""

    msg_type: str
    parent_id: str
    content: dict[str, Any]
    buffers: list[Buffer] = field(default_factory=list)


def new_header(msg_type: str, session: str) -> dict[str, Any]:
    """The header of a message of ours to a kernel (over ZMQ or a gateway's websocket)."""
    return {
        "msg_id": uuid.uuid4().hex,
        "msg_type": msg_type,
        "username": "notebook_actions",
        "session": session,
        "date": datetime.now(timezone.utc).isoformat(),
        "version": protocol_version,
    }


OnMessage = Callable[[KernelMessage], None]
OnLost = Callable[[str], None]


class Transport(Protocol):
    async def start(self, on_message: OnMessage, on_lost: OnLost) -> None: ...

    async def open_subshell(self) -> str | None:
        """Send shell messages on a subshell of our own from now on (its id), if the kernel
        has subshells; else None (they go to the main shell)."""
        ...

    def send(self, msg_type: str, content: dict[str, Any], buffers: Sequence[Buffer] = ()) -> str:
        """Send on the shell channel; return the message id."""
        ...

    def close(self, process_gone: bool = False) -> None:
        """Close the connection (``process_gone``: the kernel's process ended or was replaced,
        so nothing is to be said to it)."""
        ...


def _own_session(client: Any) -> Session:
    # A session of our own (same key): sessions remember the signatures they have
    # seen, so sharing the kernel manager's with other readers would clash.
    session = client.session
    return Session(
        config=session.config,
        key=session.key,
        signature_scheme=session.signature_scheme,
        username="notebook_actions",
    )


class ZmqTransport:
    """A local kernel: the client's shell and iopub sockets, iopub filtered by topic.

    Messages are read as soon as the sockets are readable, without a future per message,
    and coded here (the Jupyter wire protocol, signed with the kernel's key): this sits on
    the path of every request, and jupyter_client's general-purpose ``Session`` costs more
    than the bridge does.
    """

    def __init__(self, client: Any, topics: Sequence[bytes], log: logging.Logger) -> None:
        self._client = client
        self._topics = list(topics)
        self._log = log
        session = _own_session(client)
        self._sign = session.sign
        self._signed = session.auth is not None
        self._session_id = session.session
        self._owned: list[Any] = []
        self._shell: zmq.Socket[bytes] | None = None
        self._iopub: zmq.Socket[bytes] | None = None
        self._control: Any = None
        self.subshell_id: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_message: OnMessage = lambda _msg: None
        self._on_lost: OnLost = lambda _reason: None
        self._closed = False

    async def start(self, on_message: OnMessage, on_lost: OnLost) -> None:
        client = self._client
        shell = client.connect_shell()
        iopub = client.connect_iopub()
        for topic in self._topics:
            iopub.setsockopt(zmq.SUBSCRIBE, topic)
        iopub.setsockopt(zmq.UNSUBSCRIBE, b"")
        self._owned = [shell, iopub]
        # Plain sockets over the same ones: their file descriptors are watched directly.
        self._shell = zmq.Socket.shadow(shell.underlying)
        self._iopub = zmq.Socket.shadow(iopub.underlying)
        self._on_message, self._on_lost = on_message, on_lost
        loop = self._loop = asyncio.get_running_loop()
        loop.add_reader(self._iopub.FD, self._read_iopub)
        loop.add_reader(self._shell.FD, self._drain_shell)
        # ZMQ's descriptors signal edges: read what may have arrived already.
        loop.call_soon(self._read_iopub)
        loop.call_soon(self._drain_shell)

    def _read_iopub(self, budget: int = 200) -> None:
        sock = self._iopub
        if sock is None or self._closed:
            return
        try:
            for _ in range(budget):
                try:
                    frames = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    return
                msg = self._decode(frames)
                if msg is not None:
                    self._on_message(msg)
                if self._closed:  # on_message may have closed us
                    return  # type: ignore[unreachable]
            if self._loop is not None:  # set by start(), before the first read
                self._loop.call_soon(self._read_iopub)  # more waiting: let others run first
        except zmq.ZMQError as err:
            if not self._closed:
                self._on_lost(f"the connection to the kernel failed ({err})")
        except Exception:
            self._log.exception("notebook_actions: the kernel bridge failed")
            if not self._closed:
                self._on_lost("the connection to the kernel failed (see the server log)")

    def _drain_shell(self) -> None:
        # Shell replies (to kernel_info nudges) are not needed; read them so they do not pile up.
        sock = self._shell
        if sock is None or self._closed:
            return
        with contextlib.suppress(zmq.ZMQError):
            while True:
                sock.recv_multipart(zmq.NOBLOCK)

    def _decode(self, frames: list[bytes]) -> KernelMessage | None:
        try:
            start = frames.index(DELIMITER) + 1
        except ValueError:
            return None
        parts = frames[start:]
        if len(parts) < _SIGNED_PARTS:
            return None
        signature, header, parent, metadata, content = parts[:_SIGNED_PARTS]
        if self._signed and not hmac.compare_digest(signature, self._sign([header, parent, metadata, content])):
            self._log.warning("notebook_actions: dropped an iopub message with a bad signature")
            return None
        try:
            msg_type = json.loads(header)["msg_type"]
            parent_id = json.loads(parent).get("msg_id", "")
            body = json.loads(content)
        except (ValueError, KeyError, AttributeError):
            self._log.warning("notebook_actions: dropped an iopub message it could not read")
            return None
        return KernelMessage(str(msg_type), str(parent_id), body, list(parts[5:]))

    async def open_subshell(self) -> str | None:
        # On the control channel, which a kernel answers while a cell runs (ipykernel
        # runs it on a thread of its own). Only a kernel that says it has subshells is asked.
        self._control = self._client.connect_control()
        try:
            info = await self._ask_control("kernel_info_request", {})
            if "kernel subshells" not in (info.get("supported_features") or []):
                return None
            made = await self._ask_control("create_subshell_request", {})
        except asyncio.TimeoutError:
            self._log.info("notebook_actions: the kernel did not answer on its control channel; no subshell")
            return None
        if made.get("status") != "ok" or not isinstance(made.get("subshell_id"), str):
            self._log.info("notebook_actions: the kernel made no subshell: %s", made)
            return None
        self.subshell_id = made["subshell_id"]
        return self.subshell_id

    async def _ask_control(self, msg_type: str, content: dict[str, Any]) -> dict[str, Any]:
        msg_id, frames = self._frames(msg_type, content, (), subshell=False)
        await self._control.send_multipart(frames)
        deadline = asyncio.get_running_loop().time() + SUBSHELL_TIMEOUT
        while True:
            left = deadline - asyncio.get_running_loop().time()
            reply = self._decode(await asyncio.wait_for(self._control.recv_multipart(), max(left, 0)))
            if reply is not None and reply.parent_id == msg_id:
                return reply.content

    def _frames(
        self, msg_type: str, content: dict[str, Any], buffers: Sequence[Buffer], *, subshell: bool = True
    ) -> tuple[str, list[Any]]:
        header = new_header(msg_type, self._session_id)
        msg_id: str = header["msg_id"]
        if subshell and self.subshell_id is not None:
            header["subshell_id"] = self.subshell_id  # the kernel runs it on that subshell's thread
        try:
            packed = _pack(content)
        except (ValueError, TypeError, RecursionError) as err:
            raise Unencodable(_why_unencodable(err)) from None
        parts = [_pack(header), b"{}", b"{}", packed]
        return msg_id, [DELIMITER, self._sign(parts), *parts, *buffers]

    def send(self, msg_type: str, content: dict[str, Any], buffers: Sequence[Buffer] = ()) -> str:
        sock = self._shell
        if sock is None or self._closed:
            message = "the connection to the kernel is closed"
            raise ConnectionError(message)
        # A comm_close goes to the main shell: the subshell is deleted as the bridge closes,
        # and its thread might never see it (the kernel drops a comm's uploads on close).
        msg_id, frames = self._frames(msg_type, content, buffers, subshell=msg_type != "comm_close")
        sock.send_multipart(frames, copy=not buffers or max(len(b) for b in buffers) < COPY_THRESHOLD)
        # Sending may take the descriptor's edge for replies that arrived meanwhile.
        if cast("int", sock.getsockopt(zmq.EVENTS)) & zmq.POLLIN and self._loop is not None:
            self._loop.call_soon(self._drain_shell)
        return msg_id

    def close(self, process_gone: bool = False) -> None:
        if self._closed:
            return
        self._closed = True
        if self._loop is not None:
            for sock in (self._iopub, self._shell):
                if sock is not None and not sock.closed:
                    self._loop.remove_reader(sock.FD)
        control = self._control
        if control is not None and not control.closed:
            # The kernel stops the subshell's thread; a restarted one never had it (ipykernel
            # would log an AssertionError's traceback), a dead one hears nothing.
            if self.subshell_id is not None and not process_gone:
                with contextlib.suppress(zmq.ZMQError):
                    _, frames = self._frames("delete_subshell_request", {"subshell_id": self.subshell_id}, ())
                    control.send_multipart(frames)
            control.close(linger=LINGER_MS)
        for owned in self._owned:
            if not owned.closed:
                owned.close(linger=LINGER_MS)  # let a final comm_close reach the kernel


def _pack(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def _why_unencodable(err: Exception) -> str:
    if isinstance(err, RecursionError):
        return "its JSON is nested too deeply"
    if isinstance(err, UnicodeEncodeError):
        return "it holds text that is not valid Unicode (a lone surrogate such as \\ud800)"
    return f"it is not JSON ({err})"


def transport_for(manager: Any, topics: Sequence[bytes], log: logging.Logger) -> Transport:
    """A transport through ``manager.client()``, the kernel manager's own client."""
    from jupyter_server.gateway.managers import GatewayKernelManager

    if isinstance(manager, GatewayKernelManager):
        from ._gateway_ws import GatewayTransport

        return GatewayTransport(str(manager.kernel_id), log)
    # The client's sockets live in the kernel manager's context (shadowed for asyncio),
    # not in a context of their own that would need its own teardown.
    context = zmq.asyncio.Context.shadow(manager.context.underlying)
    return ZmqTransport(manager.client(context=context), topics, log)
