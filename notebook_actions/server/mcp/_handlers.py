"""MCP's Streamable HTTP transport at one URL per kernel and per notebook.

- ``{base_url}notebook-actions/mcp/kernels/{kernel_id}``
- ``{base_url}notebook-actions/mcp/notebooks/{path}`` (the notebook's kernel, found as
  the HTTP routes find it; for a served notebook, each tool list or call takes the
  least busy ready kernel of its pool and holds it until it ends)

Tornado does what Jupyter does for every request (host check, authentication with
``Authorization: token …`` or ``Bearer …``, authorization on resource
``notebook_actions``: ``read`` for everything, ``write`` as well to call a tool),
refuses a foreign ``Origin`` with 403 as MCP asks of HTTP servers (DNS rebinding),
and finds the kernel. A session is bound to the credential that opened it (``session_owner``:
the token, or a login cookie's user; never the name jupyter-server makes up for a request that
brings the token without a cookie). The protocol itself (sessions, ``Mcp-Session-Id``,
``MCP-Protocol-Version``, SSE or JSON responses, the GET stream, DELETE) is the
``mcp`` SDK's ``StreamableHTTPSessionManager``, reached through ``_mcp_asgi``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from http import HTTPStatus
from http.client import responses
from typing import Any, cast
from urllib.parse import urlparse

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.utils import origin_matches_pat, url_path_join
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp_types import INTERNAL_ERROR, INVALID_REQUEST, ErrorData, JSONRPCError
from tornado import web

from ..._routes import MCP_ROOT, TARGET_PATTERNS, mcp_route, notebook_path
from .._errors import ServiceError
from .._service import ActionService
from ..http._credential import session_owner
from ..http._handlers import DRAIN_BYTES, BaseHandler, http_errors
from ..http._identity import caller_of, limit_key
from ..http._not_found import method_not_allowed
from ..http._problem import Problem
from ..kernels._bridges import KERNEL_ACTIONS_SCHEMA
from ._asgi import TornadoExchange, http_scope, serve
from ._server import SCOPE_KEY, SESSION_HEADER, KernelRef, ToolServer
from ._watch import Watchers

#: what MCP clients send besides what Jupyter's preflight allows
MCP_HEADERS = "mcp-session-id, mcp-protocol-version, last-event-id"


class McpSessions:
    """One SDK session manager per URL (and per response mode), so a session lives at
    the URL that made it. A kernel's managers, and their sessions, end with the kernel."""

    def __init__(self, service: ActionService) -> None:
        self.service = service
        self.watchers = Watchers()
        self.server = ToolServer(self.watchers)
        service.on_actions_changed.append(self.watchers.announce)
        #: the key of the hashes that sessions are bound to (see ``session_owner``)
        self.owner_key = secrets.token_bytes(32)
        # the tornado handler enforces the limit first; this is the SDK's own check
        self._max_body_bytes = service.config.max_body_bytes
        self._managers: dict[tuple[str, bool], tuple[asyncio.Future[StreamableHTTPSessionManager], asyncio.Event]] = {}
        self._tasks: set[asyncio.Future[None]] = set()

    async def manager(self, url: str, json_only: bool) -> StreamableHTTPSessionManager:
        key = (url, json_only)
        running = self._managers.get(key)
        if running is None:
            manager = StreamableHTTPSessionManager(
                self.server, json_response=json_only, max_request_body_size=self._max_body_bytes
            )
            running = self._managers[key] = (asyncio.get_running_loop().create_future(), asyncio.Event())
            task = asyncio.ensure_future(self._run(manager, *running))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await asyncio.shield(running[0])

    async def _run(
        self, manager: StreamableHTTPSessionManager, started: asyncio.Future[Any], stop: asyncio.Event
    ) -> None:
        async with manager.run():
            started.set_result(manager)
            await stop.wait()

    def stop(self, url: str) -> None:
        """End the sessions at ``url`` (both response modes)."""
        for key in [key for key in self._managers if key[0] == url]:
            self._managers.pop(key)[1].set()

    async def on_kernel_action(
        self,
        logger: Any,  # noqa: ARG002  # jupyter_events passes all three by name
        schema_id: str,  # noqa: ARG002
        data: dict[str, Any],
    ) -> None:
        """jupyter-server's kernel_actions events: a shut-down kernel's sessions end with
        it; a restarted kernel's clients hear that its tools changed (they are gone until
        its cells run again)."""
        kernel_id = data.get("kernel_id")
        if not isinstance(kernel_id, str):
            return
        if data.get("action") == "shutdown":
            self.stop(mcp_route(kernel_id))
            self.watchers.forget_kernel(kernel_id)
            self.service.forget(kernel_id)
        elif data.get("action") == "restart":
            self.service.forget(kernel_id)
            self.service.actions_changed(kernel_id)


def _accepts_sse(accept: str) -> bool:
    types = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    return bool(types & {"text/event-stream", "text/*", "*/*"})


def _calls_a_tool(body: bytes) -> bool:
    """Whether a POSTed JSON-RPC message (or batch) is a ``tools/call``; malformed
    bodies are the SDK's to refuse."""
    try:
        message = json.loads(body)
    except ValueError:
        return False
    messages = message if isinstance(message, list) else [message]
    return any(isinstance(m, dict) and m.get("method") == "tools/call" for m in messages)


@web.stream_request_body
class McpHandler(BaseHandler):
    token_scheme = "Bearer"  # noqa: S105  # a scheme name, not a secret: what MCP clients send (and mcp_config() writes)
    _exchange: TornadoExchange | None = None
    _body: bytearray
    _limit = 0
    _too_large = False

    @property
    def mcp(self) -> McpSessions:
        return cast("McpSessions", self.settings["notebook_actions_mcp"])

    async def prepare(self) -> None:  # type: ignore[override]
        # Before anything else, and whatever the credentials: a page on a foreign origin
        # must not reach the kernel through a browser that holds the user's cookie.
        if not self._origin_allowed():
            origin = self.request.headers.get("Origin")
            message = (
                f"requests from origin {origin!r} are refused: MCP clients send no Origin, or the "
                "server's own; allow others with ServerApp.allow_origin or allow_origin_pat"
            )
            raise Problem(403, message)
        await super().prepare()
        if self.request.method == "OPTIONS":
            return  # a browser's preflight, for an allowed origin: no credentials in it
        await self._authorize("read")  # everything here reads; calling a tool writes too
        self._body = bytearray()
        # A JSON-RPC message is a JSON body like any other: the same limit, said before reading it.
        self._limit = self.conf.max_body_bytes
        server_limit = getattr(self.serverapp, "max_body_size", None)
        if isinstance(server_limit, int):
            self._limit = min(self._limit, server_limit)
        length = self.request.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > self._limit:
            raise Problem(413, self._too_large_message())
        # past our limit the rest is dropped as it comes; tornado stops a body far past it
        cast("Any", self.request.connection).set_max_body_size(self._limit + DRAIN_BYTES)

    def _too_large_message(self) -> str:
        return (
            f"the request body is larger than the limit of {self._limit} bytes "
            "(NotebookActions.max_body_bytes; files count in base64)"
        )

    def data_received(self, chunk: bytes) -> None:
        if len(self._body) + len(chunk) > self._limit:
            self._too_large = True
            self._body.clear()
        if not self._too_large:
            self._body += chunk

    def _origin_allowed(self) -> bool:
        origin = self.request.headers.get("Origin")
        if origin is None or self.allow_origin == "*":
            return True
        if urlparse(origin.lower()).netloc == (self.request.headers.get("Host") or "").lower():
            return True
        if self.allow_origin:
            return bool(self.allow_origin == origin)
        return bool(self.allow_origin_pat and origin_matches_pat(self.allow_origin_pat, origin))

    async def _authorize(self, action: str) -> None:
        user = self.current_user
        if not user:
            raise self.no_credential()
        if not await ensure_async(self.authorizer.is_authorized(self, user, action, self.auth_resource)):
            message = f"User is not authorized to {action} on resource: {self.auth_resource}."
            raise web.HTTPError(403, message)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Refusals as JSON-RPC errors, which MCP clients show (a bare status they do not)."""
        exc = (kwargs.get("exc_info") or (None, None, None))[1]
        message = responses.get(status_code, "Unknown HTTP Error")
        if isinstance(exc, Problem):
            message = exc.message
        elif (
            status_code == HTTPStatus.METHOD_NOT_ALLOWED and isinstance(exc, web.HTTPError) and not exc.log_message
        ):  # tornado's
            message = method_not_allowed(self)
        elif isinstance(exc, web.HTTPError):
            message = exc.log_message or message
        elif exc is not None:
            message = "Unhandled error in the notebook-actions server extension (see the server log)"
        code = INVALID_REQUEST if status_code < HTTPStatus.INTERNAL_SERVER_ERROR else INTERNAL_ERROR
        error = JSONRPCError(jsonrpc="2.0", id=None, error=ErrorData(code=code, message=message))
        self.finish(error.model_dump_json(by_alias=True, exclude_unset=True))

    def set_cors_headers(self) -> None:
        super().set_cors_headers()
        # a browser-based client (on an allowed origin) must be able to read the session id
        self.set_header("Access-Control-Expose-Headers", "Mcp-Session-Id")

    @allow_unauthenticated
    def options(self, *args: Any, **kwargs: Any) -> None:
        """A browser's preflight: the MCP headers may be sent too."""
        super().options(*args, **kwargs)
        allowed = self._headers.get("Access-Control-Allow-Headers", "")
        self.set_header("Access-Control-Allow-Headers", f"{allowed}, {MCP_HEADERS}".strip(", "))

    def on_connection_close(self) -> None:
        super().on_connection_close()
        if self._exchange is not None:
            self._exchange.gone.set()

    @web.authenticated
    @http_errors
    async def post(self, kernel_id: str | None = None, path: str | None = None) -> None:
        """A JSON-RPC message from the client; the answer as JSON or server-sent events."""
        if self._too_large:
            raise Problem(413, self._too_large_message())
        if _calls_a_tool(bytes(self._body)):
            await self._authorize("write")
        await self._serve(kernel_id, path)

    @web.authenticated
    @http_errors
    async def get(self, kernel_id: str | None = None, path: str | None = None) -> None:
        """The session's stream of server-to-client messages (tool list changes)."""
        await self._serve(kernel_id, path)

    @web.authenticated
    @http_errors
    async def delete(self, kernel_id: str | None = None, path: str | None = None) -> None:
        """End the session."""
        await self._serve(kernel_id, path)
        session_id = self.request.headers.get(SESSION_HEADER)
        if session_id and self._exchange is not None and self._exchange.status == HTTPStatus.OK:
            self.mcp.watchers.forget_session(session_id)

    async def _serve(self, kernel_id: str | None, path: str | None) -> None:
        self._exchange = TornadoExchange(self, bytes(self._body))
        service = self.service
        notebook = notebook_path(path) if path is not None else None
        caller = caller_of(self, "mcp")
        key = limit_key(self, caller)
        if notebook is not None and service.served(notebook):
            ref = KernelRef(service, None, notebook, self._exchange.gone, caller, key)  # each use leases a kernel
        else:
            kid = await service.kernel_id(kernel_id=kernel_id, notebook=notebook)
            ref = KernelRef(service, kid, None, self._exchange.gone, caller, key)
            if self.request.method == "GET":
                # Open the kernel's comm now, so the kernel can say when its tools change.
                with contextlib.suppress(ServiceError):
                    service.watch(await service.target(kernel_id=kid))
        url = mcp_route(ref.kernel_id, notebook)
        json_only = not _accepts_sse(self.request.headers.get("Accept", ""))
        manager = await self.mcp.manager(url, json_only)
        # A session belongs to the credential that made it (the SDK compares this).
        owner = AuthenticatedUser(AccessToken(token="", client_id=session_owner(self, self.mcp.owner_key), scopes=[]))
        stream = getattr(self.request.connection, "stream", None)
        if stream is not None:
            stream.set_nodelay(True)  # events go out as they come
        scope = http_scope(self, user=owner, **{SCOPE_KEY: ref})
        session_id = self.request.headers.get(SESSION_HEADER)
        if self.request.method != "GET" or not session_id:
            await serve(manager.handle_request, self, scope, self._exchange)
            return
        # While a session's stream is open the SDK keeps the session: so do we.
        self.mcp.watchers.stream_opened(session_id)
        try:
            await serve(manager.handle_request, self, scope, self._exchange)
        finally:
            self.mcp.watchers.stream_closed(session_id)


def mcp_handlers(base_url: str) -> list[tuple[str, type[McpHandler]]]:
    return [(url_path_join(base_url, f"{MCP_ROOT}/{target}"), McpHandler) for target in TARGET_PATTERNS]


def load(serverapp: Any, service: ActionService) -> None:
    """Serve MCP next to the HTTP routes."""
    web_app = serverapp.web_app
    sessions = web_app.settings["notebook_actions_mcp"] = McpSessions(service)
    web_app.add_handlers(".*$", mcp_handlers(web_app.settings["base_url"]))
    serverapp.event_logger.add_listener(schema_id=KERNEL_ACTIONS_SCHEMA, listener=sessions.on_kernel_action)
    serverapp.log.info("notebook_actions | MCP endpoints at %s%s/", web_app.settings["base_url"], MCP_ROOT.lstrip("/"))
