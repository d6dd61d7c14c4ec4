"""One tornado request handed to an ASGI app, and the app's response written back.

The ``mcp`` SDK's Streamable HTTP transport is an ASGI app (starlette). Jupyter's
server is tornado, on the same asyncio loop: a request that tornado has read (and
authenticated) becomes an ASGI ``http`` scope, its body the one ``http.request``
message; what the app sends is written and flushed as it comes, so server-sent
events reach the client one by one. When the client goes away the app's next
``receive()`` says ``http.disconnect``, as under any ASGI server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from tornado import web
from tornado.iostream import StreamClosedError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]

#: Hop-by-hop headers are tornado's to set, not the app's.
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding"})


def http_scope(handler: web.RequestHandler, **extra: Any) -> Scope:
    request = handler.request
    host, _, port = (request.host or "").rpartition(":")
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": request.version.removeprefix("HTTP/"),
        "method": request.method,
        "scheme": request.protocol,
        "path": request.path,
        "raw_path": request.path.encode("latin-1"),
        "root_path": "",
        "query_string": request.query.encode("latin-1"),
        "headers": [
            (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in request.headers.get_all()
        ],
        "client": (request.remote_ip, 0),
        "server": (host or request.host, int(port) if port.isdigit() else None),
        "state": {},
        **extra,
    }


class TornadoExchange:
    """The ASGI ``receive`` and ``send`` of one tornado request."""

    def __init__(self, handler: web.RequestHandler, body: bytes) -> None:
        self.handler = handler
        self.body = body
        self.gone = asyncio.Event()
        self.status: int | None = None
        self._content_type = "application/json"
        self._body_sent = False

    async def receive(self) -> Message:
        if not self._body_sent:
            self._body_sent = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        handler = self.handler
        if self.gone.is_set() or handler._finished:
            return  # the client left: nothing to write to
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            handler.set_status(self.status)
            for raw_name, raw_value in message.get("headers") or ():
                name, value = bytes(raw_name).decode("latin-1"), bytes(raw_value).decode("latin-1")
                if name.lower() in _HOP_BY_HOP:
                    continue
                if name.lower() == "content-type":
                    self._content_type = value
                handler.set_header(name, value)
            if self._content_type.startswith("text/event-stream"):
                # The headers now, not with the first event: a client waits for them
                # before it counts the stream as open.
                await self._flush()
            return
        if message["type"] != "http.response.body":
            return
        body = message.get("body") or b""
        if body:
            handler.write(bytes(body))
        if message.get("more_body"):
            await self._flush()
        else:
            # jupyter_server's APIHandler.finish would say application/json otherwise
            handler.finish(set_content_type=self._content_type)  # type: ignore[call-arg]

    async def _flush(self) -> None:
        try:
            await self.handler.flush()
        except StreamClosedError:
            self.gone.set()


async def serve(app: ASGIApp, handler: web.RequestHandler, scope: Scope, exchange: TornadoExchange) -> None:
    """Run ``app`` for the handler's request until it has answered."""
    await app(scope, exchange.receive, exchange.send)
    if not handler._finished and not exchange.gone.is_set():
        if exchange.status is None:
            raise web.HTTPError(500, "the MCP transport sent no response")
        handler.finish(set_content_type=exchange._content_type)  # type: ignore[call-arg]
