"""HTTP endpoints for the exported actions of running kernels.

Every route exists twice: by kernel id, and by notebook path (the kernel of the
notebook's running session). Nothing that arrives here becomes code: requests reach
the kernel as messages to its ``notebook_actions`` comm target.
"""

from __future__ import annotations

import asyncio
import json
import time
from email.message import Message
from http.client import responses
from typing import TYPE_CHECKING, Any, cast

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized
from jupyter_server.auth.utils import HTTP_METHOD_TO_AUTH_ACTION
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_escape, url_path_join
from tornado import web

from .._protocol import API_ROOT
from ._body import Body, BufferedBody, Invocation, Kind, MultipartBody, content_kind
from ._bridge import Bridge, BridgeError, Call, KernelBusy, Recycled, Reply, TimedOut
from ._config import NotebookActions
from ._credential import no_credential_message
from ._drain import Drain, Draining
from ._kernels import Bridges, UnknownKernel
from ._not_found import method_not_allowed
from ._openapi import openapi_document
from ._pool import Lease, Unavailable
from ._problem import Problem
from ._replies import chunk_event, chunk_value, error_for, sse_event

if TYPE_CHECKING:
    from ._serving import Serving

AUTH_RESOURCE = "notebook_actions"
PREFIX = API_ROOT

#: A body found too large while it is already on its way is read and dropped, up to this
#: many bytes past the limit, so that the client gets to read the 413; a body refused for
#: another reason before it was read, up to this many bytes.
DRAIN_BYTES = 4 << 20

#: A stream's events are handed to the client at least every this many bytes...
FLUSH_BYTES = 64 << 10
#: ...and a client that falls this many replies behind the kernel is cut off.
MAX_BACKLOG = 10_000

_KERNEL = r"kernels/(?P<kernel_id>\w+-\w+-\w+-\w+-\w+)"
_NOTEBOOK = r"notebooks/(?P<path>.+)"
_NAME = r"(?P<name>[^/]+)"


class Extension:
    """What the handlers share: the options, the bridges and the served notebooks."""

    def __init__(self, config: NotebookActions, bridges: Bridges, serving: Serving | None = None) -> None:
        self.config = config
        self.bridges = bridges
        self.serving = serving
        #: whether the server still takes requests, and those in flight (``_drain``)
        self.drain = Drain()


class BaseHandler(APIHandler):
    auth_resource = AUTH_RESOURCE
    #: the ``Authorization`` scheme a request without a valid credential is told to use
    token_scheme = "token"
    #: what a 405's message adds to "use GET" (say, what the other method does)
    method_hint = ""
    _lease: Lease | None = None
    _retry_after: int | None = None  # seconds, for a 503 of a served notebook
    #: a draining server refuses this route's new requests, and waits for those in flight
    drains = True

    @property
    def extension(self) -> Extension:
        return cast(Extension, self.settings["notebook_actions"])

    @property
    def conf(self) -> NotebookActions:
        return self.extension.config

    async def prepare(self) -> None:  # type: ignore[override]
        if self.drains:
            try:
                self.extension.drain.admit(self)
            except Draining as err:
                self._retry_after = err.retry_after
                raise
        await super().prepare()

    def clear(self) -> None:
        # An error's answer starts from a cleared response: Retry-After must survive it.
        super().clear()
        if self._retry_after is not None:
            self.set_header("Retry-After", str(self._retry_after))

    def no_credential(self) -> Problem:
        return Problem(403, no_credential_message(self, self.token_scheme))

    def check_xsrf_cookie(self) -> None:
        # A request with no valid credential is told to send the token, before jupyter-server
        # asks it for an XSRF token: that is for a browser that is logged in.
        if hasattr(self, "_jupyter_current_user") and not self.current_user:
            raise self.no_credential()
        super().check_xsrf_cookie()

    def get_login_url(self) -> str:
        # Where @web.authenticated sends a GET with no valid credential (APIHandler's: a bare 403).
        if not self.current_user:
            raise self.no_credential()
        return super().get_login_url()

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Every error body of the extension: ``{"message": ..., **extra}``."""
        exc = (kwargs.get("exc_info") or (None, None, None))[1]
        body: dict[str, Any] = {"message": responses.get(status_code, "Unknown HTTP Error")}
        if isinstance(exc, Problem):
            body = exc.body()
        elif status_code == 405 and isinstance(exc, web.HTTPError) and not exc.log_message:  # tornado's
            body["message"] = method_not_allowed(self)
        elif isinstance(exc, web.HTTPError):  # raised by jupyter-server or tornado
            if exc.log_message:
                body["message"] = exc.log_message % exc.args if exc.args else exc.log_message
            body["reason"] = exc.reason
        elif exc is not None:
            body["message"] = "Unhandled error in the notebook-actions server extension (see the server log)"
        if self._retry_after is not None:
            self.set_header("Retry-After", str(self._retry_after))
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def on_finish(self) -> None:
        self._release()

    def on_connection_close(self) -> None:
        super().on_connection_close()
        self._release()

    def _release(self) -> None:
        if self._lease is not None:
            self._lease.release()
        self.extension.drain.release(self)

    # --- which kernel -------------------------------------------------------------

    def _route(self, kernel_id: str | None, path: str | None) -> str:
        if path is not None:
            return f"{PREFIX}/notebooks/{url_escape(path.strip('/'))}"
        return f"{PREFIX}/kernels/{kernel_id}"

    async def kernel_id(self, kernel_id: str | None = None, path: str | None = None) -> str:
        if path is not None:
            path = path.strip("/")
            serving = self.extension.serving
            pool = serving.pool(path) if serving is not None else None
            if pool is not None:
                # A served notebook: its pool's least busy ready kernel, held until we finish
                # if we invoke (a GET may be a long-lived stream: it would hold it for nothing).
                try:
                    self._lease = await pool.lease(self.conf.timeout)
                except Unavailable as err:
                    self._retry_after = err.retry_after
                    raise Problem(503, err.message, **err.extra) from None
                if self.request.method != "POST":
                    self._lease.release()
                return self._lease.kernel_id
            try:
                model: dict[str, Any] = await self.session_manager.get_session(path=path)  # type: ignore[no-untyped-call]
            except web.HTTPError:
                raise Problem(404, self._no_session(path)) from None
            kid = (model.get("kernel") or {}).get("id")
            if not isinstance(kid, str):
                raise Problem(404, f"the session of notebook {path!r} has no kernel: start one")
            kernel_id = kid
        assert kernel_id is not None
        if kernel_id not in self.kernel_manager:
            message = f"no running kernel {kernel_id} on this server: GET /api/kernels lists the running ones"
            raise Problem(404, message)
        state = getattr(self.kernel_manager.get_kernel(kernel_id), "execution_state", None)
        if state == "dead":
            raise Problem(503, f"kernel {kernel_id} is dead: restart it, then run its cells again")
        return kernel_id

    def _no_session(self, path: str) -> str:
        """What to do about a notebook path that is neither served nor open in a session."""
        serving = self.extension.serving
        served = [
            f"{p} (GET {url_path_join(self.base_url, PREFIX, 'notebooks', url_escape(p), 'actions')})"
            for p in (serving.pools if serving is not None else ())
        ]
        if serving is not None and serving.headless:
            # serve's server: no UI to open a notebook in, and Jupyter's APIs are off by default
            return f"notebook {path!r} is not served here: this server serves {', '.join(served)}"
        message = (
            f"no running session for notebook {path!r}: open it in Jupyter (or start one "
            "with POST /api/sessions), then run %load_ext notebook_actions in it"
        )
        return f"{message}; this server also serves {', '.join(served)}" if served else message

    async def bridge(self, kernel_id: str) -> Bridge:
        bridges = self.extension.bridges
        for _ in range(3):
            try:
                bridge = bridges.get(kernel_id)
            except UnknownKernel:
                raise Problem(404, f"no running kernel {kernel_id} on this server") from None
            try:
                await bridge.ready(self.conf.timeout)
            except Recycled:
                continue  # closed between requests on purpose: take the next one
            return bridge
        raise Problem(503, "could not connect to the kernel: try again")

    async def reply(self, call: Call, timeout: float) -> Reply:
        try:
            return await call.reply(max(timeout, 0.0))
        except (TimedOut, KernelBusy):
            call.cancel()
            raise

    async def exported_actions(self, kernel_id: str) -> list[dict[str, Any]]:
        bridge = await self.bridge(kernel_id)
        call = bridge.request({"kind": "list"})
        reply, _ = await self.reply(call, self.conf.timeout)
        if reply.get("kind") != "actions":
            raise Problem(500, f"the kernel answered a list request with {reply.get('kind')!r}")
        return list(reply.get("actions") or [])


def _public(info: dict[str, Any], url: str) -> dict[str, Any]:
    """What an HTTP caller sees of an action: no ids, they address actions by name."""
    keys = ("name", "doc", "signature", "streaming", "threadsafe", "params", "returns")
    return {**{key: info[key] for key in keys if key in info}, "url": url}


class ActionsHandler(BaseHandler):
    method_hint = " (POST .../actions/{name} invokes an action)"

    @web.authenticated
    @authorized
    async def get(self, kernel_id: str | None = None, path: str | None = None) -> None:
        """The exported actions of a kernel, with the JSON Schemas of their arguments and results."""
        kid = await self.kernel_id(kernel_id, path)
        route = url_path_join(self.base_url, self._route(kid, path))
        actions = await self.exported_actions(kid)
        body = {"kernel_id": kid, "actions": [_public(a, f"{route}/actions/{a['name']}") for a in actions]}
        self.finish(json.dumps(body))


class OpenAPIHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self, kernel_id: str | None = None, path: str | None = None) -> None:
        """An OpenAPI 3.1 document of a kernel's exported actions."""
        kid = await self.kernel_id(kernel_id, path)
        actions = await self.exported_actions(kid)
        title = f"notebook-actions: {path.strip('/')}" if path is not None else f"notebook-actions: kernel {kid}"
        document = openapi_document(
            actions,  # type: ignore[arg-type]
            base_url=self.base_url,
            route=self._route(kid, path),
            title=title,
        )
        self.finish(json.dumps(document))


@web.stream_request_body
class InvokeHandler(BaseHandler):
    """POST an action's arguments; the body streams in (files flow on to the kernel)."""

    method_hint = " with the action's arguments (GET .../actions lists the actions and their arguments)"

    _body: Body | None = None
    _bridge: Bridge | None = None
    _call: Call | None = None
    _limit = 0
    _drain_until = 0
    _received = 0
    _failed = False
    #: The answer, decided before the body was read: the body is read and dropped
    #: (up to a bound) before it is given, so that the connection stays usable.
    _refusal: Problem | None = None
    _gone = False
    #: An answer now comes before the body is read (tornado's XSRF check, prepare(), a
    #: refusal while the body arrives): tornado then closes the connection.
    _early = True

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()
        if self.request.method != "POST":
            self._early = False
            return
        # The body has not been read yet: decide who may send it before reading any of it.
        user = self.current_user
        if not user:
            raise self.no_credential()
        action = HTTP_METHOD_TO_AUTH_ACTION["POST"]
        if not await ensure_async(self.authorizer.is_authorized(self, user, action, AUTH_RESOURCE)):
            raise web.HTTPError(403, f"User is not authorized to {action} on resource: {AUTH_RESOURCE}.")
        kind, content_type = self._limits()
        try:
            await self._accept(kind, content_type)
        except Problem as problem:
            if problem.status != 413:  # a body of any size may come: drop a bounded amount
                self._drain_until = min(self._drain_until, DRAIN_BYTES)
            if not self._drainable():
                raise  # at once: nothing of the body is read, the connection closes
            # The body is on its way (or empty): closing now would make a keep-alive
            # client's next request fail, or reset the connection before this answer is
            # read. Drop what comes, then answer.
            self._refusal = problem
            if self._body is not None:
                self._body.abort()
        self._early = False

    def _limits(self) -> tuple[Kind, Message]:
        """The body's kind, and the limits that hold for it (tornado's among them)."""
        options = self.conf
        try:
            kind, content_type = content_kind(self.request.headers.get("Content-Type"))
        except Problem as problem:
            self._refusal = problem  # answered once the limits below are known
            kind, content_type = "empty", Message()
        self._limit = options.max_upload_bytes if kind == "multipart" else options.max_body_bytes
        # ServerApp.max_body_size holds for every request; ours may only be stricter.
        server_limit = getattr(self.serverapp, "max_body_size", None)
        if isinstance(server_limit, int):
            self._limit = min(self._limit, server_limit)
        # tornado's own limit, above ours where it may be, so that ours answers (413, not 400)
        tornado_limit = self._limit + DRAIN_BYTES + (1 << 16)
        if isinstance(server_limit, int):
            tornado_limit = min(tornado_limit, server_limit)
        self._drain_until = min(self._limit + DRAIN_BYTES, tornado_limit - 1)
        connection = cast(Any, self.request.connection)
        connection.set_max_body_size(tornado_limit)
        return kind, content_type

    def _drainable(self) -> bool:
        """Whether the body may be read and dropped before a refusal is given."""
        headers = self.request.headers
        if headers.get("Expect", "").lower() == "100-continue":
            return False  # the client sends nothing until told to
        length = headers.get("Content-Length")
        if length is None:
            return True  # chunked (counted as it comes) or no body at all
        return length.isdigit() and int(length) <= self._drain_until

    async def _accept(self, kind: Kind, content_type: Message) -> None:
        """Whether the request can go on, before its body is read; its body reader."""
        if self._refusal is not None:
            raise self._refusal
        if self.request.headers.get("Content-Encoding", "identity").lower() != "identity":
            raise Problem(415, "compressed request bodies are not supported: send the body as is")
        length = self.request.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > self._limit:
            message = f"the request body ({length} bytes) is larger than the limit of {self._limit} bytes"
            raise Problem(413, message)
        options = self.conf
        kwargs = self.path_kwargs
        kid = await self.kernel_id(kwargs.get("kernel_id"), kwargs.get("path"))
        self._bridge = await self.bridge(kid)
        if kind == "multipart":
            # Say 404 before a large upload travels to the kernel for nothing.
            names = {a["name"] for a in await self.exported_actions(kid)}
            if kwargs["name"] not in names:
                raise Problem(404, self._not_found(kwargs["name"], kid))
            boundary = content_type.get_param("boundary")
            self._body = MultipartBody(
                boundary if isinstance(boundary, str) else "",
                self._bridge,
                field_limit=options.max_body_bytes,
                chunk_bytes=options.upload_chunk_bytes,
                timeout=options.timeout,
            )
        else:
            self._body = BufferedBody(kind, self._limit)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        if self._early:
            # Say so, or a keep-alive client (a requests.Session, a browser) sends its next
            # request on a connection that is about to close, and sees it reset.
            self.set_header("Connection", "close")
        super().write_error(status_code, **kwargs)

    def _not_found(self, name: str, kernel_id: str) -> str:
        return (
            f"no exported action {name!r} in kernel {kernel_id}: run the %%use_server cell that "
            "defines it (after %load_ext notebook_actions)"
        )

    async def data_received(self, chunk: bytes) -> None:
        if self._failed:
            return
        self._received += len(chunk)
        if self._received > self._limit and self._refusal is None:
            self._refusal = Problem(413, f"the request body is larger than the limit of {self._limit} bytes")
            if self._body is not None:
                self._body.abort()
        if self._refusal is not None:
            if self._received > self._drain_until:
                self._fail(self._refusal)  # enough dropped: answer and close
            return
        if self._body is None:
            return
        try:
            await self._body.feed(chunk)
        except Problem as problem:
            self._fail(problem)
        except Exception:
            self.log.exception("notebook_actions: reading a request body failed")
            self._fail(Problem(500, "reading the request body failed (see the server log)"))

    def _fail(self, problem: Problem) -> None:
        """Answer now, before the rest of the body: tornado then closes the connection."""
        self._failed = self._early = True
        if self._body is not None:
            self._body.abort()
        if not self._finished and not self._gone:
            self.send_error(problem.status, exc_info=(Problem, problem, None))

    def on_connection_close(self) -> None:
        super().on_connection_close()
        self._gone = True
        if self._body is not None and self._call is None:
            self._body.abort()
        if self._call is not None:
            self._call.cancel()  # the caller left: stop the action in the kernel

    @web.authenticated
    @authorized
    async def post(self, name: str, kernel_id: str | None = None, path: str | None = None) -> None:
        """Invoke an exported action: JSON, urlencoded or multipart arguments in, its result out."""
        if self._failed or self._finished:
            return
        if self._refusal is not None:
            raise self._refusal
        assert self._body is not None and self._bridge is not None
        try:
            invocation = self._body.finish()
        except Problem:
            self._body.abort()
            raise
        try:
            await self._invoke(name, invocation)
        except Problem:
            if self._gone:
                return  # nobody to tell
            raise

    async def _invoke(self, name: str, invocation: Invocation) -> None:
        assert self._bridge is not None and self._body is not None
        timeout = self.conf.timeout
        started = time.monotonic()
        try:
            call = self._call = self._bridge.request(invocation.message(name), invocation.buffers)
        except BridgeError:
            self._body.abort()
            raise
        reply, buffers = await self.reply(call, timeout)
        if self._gone:
            return
        kind = reply.get("kind")
        if kind not in ("chunk", "end"):
            if kind == "not_found" or (kind == "error" and not reply.get("digest")):
                self._body.abort()  # uploads the kernel did not take
            self._final(reply, buffers, self._bridge.kernel_id, name)
            return
        if "text/event-stream" in self.request.headers.get("Accept", ""):
            await self._stream(call, reply, buffers)
            return
        chunks = []
        while kind == "chunk":
            if "progress" not in reply:
                chunks.append(chunk_value(reply, buffers))
            reply, buffers = await self.reply(call, timeout - (time.monotonic() - started))
            kind = reply.get("kind")
        if kind == "end":
            self.finish(json.dumps({"value": chunks}))
        else:
            self._final(reply, buffers, self._bridge.kernel_id, name)

    def _final(self, reply: dict[str, Any], buffers: list[Any], kernel_id: str, name: str) -> None:
        kind = reply.get("kind")
        if kind == "result":
            if "buffer" in reply and buffers:
                self.finish(bytes(buffers[0]), set_content_type="application/octet-stream")
            else:
                self.finish(json.dumps({"value": reply.get("value")}))
            return
        raise error_for(reply, self.conf.expose_exception_messages, self._not_found(name, kernel_id))

    async def _stream(self, call: Call, reply: dict[str, Any], buffers: list[Any]) -> None:
        """Server-sent events: one per chunk as it comes, then ``end`` (or ``error``)."""
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        stream = getattr(self.request.connection, "stream", None)
        if stream is not None:
            stream.set_nodelay(True)
        timeout = self.conf.timeout
        unflushed = 0
        while True:
            kind = reply.get("kind")
            if kind == "chunk":
                name = "progress" if "progress" in reply else "chunk"
                event = sse_event(name, chunk_event(reply, buffers))
                unflushed += len(event)
                self.write(event)
            elif kind == "end":
                self.write(sse_event("end", {}))
                break
            else:
                err = error_for(reply, self.conf.expose_exception_messages, "the action is gone")
                self.write(sse_event("error", {"status": err.status, **err.body()}))
                break
            if not call.replies or unflushed >= FLUSH_BYTES or len(call.replies) > MAX_BACKLOG:
                # Wait for the client to take what was written (what it has not read yet
                # stays in memory here, and so does what the kernel sends meanwhile).
                if not await self._flushed(call, timeout):
                    return
                unflushed = 0
            if self._gone:
                return
            try:
                reply, buffers = await self.reply(call, timeout)
            except Problem as err:
                self.write(sse_event("error", {"status": err.status, **err.body()}))
                break
            if self._gone:  # on_connection_close ran while we awaited
                return  # type: ignore[unreachable]
        self.finish(set_content_type="text/event-stream")

    async def _flushed(self, call: Call, timeout: float) -> bool:
        """Whether the client took the stream's events so far; if it stopped reading for
        ``timeout`` seconds, or fell too far behind, the action is cancelled and the
        connection closed."""
        flushing = asyncio.ensure_future(self.flush())
        flushing.add_done_callback(lambda future: future.cancelled() or future.exception())
        await asyncio.wait([flushing], timeout=timeout)
        if flushing.done() and flushing.exception() is not None:
            return False  # the caller left (and the action is cancelled)
        if flushing.done() and len(call.replies) <= MAX_BACKLOG:
            return True
        self.log.warning("notebook_actions: a stream's client stopped reading: the action is cancelled")
        call.cancel()
        stream = getattr(self.request.connection, "stream", None)
        if stream is not None:
            stream.close()
        return False


def handlers(base_url: str) -> list[tuple[str, type[BaseHandler]]]:
    routes: list[tuple[str, type[BaseHandler]]] = []
    for target in (_KERNEL, _NOTEBOOK):
        routes += [
            (f"{PREFIX}/{target}/actions/{_NAME}", InvokeHandler),
            (f"{PREFIX}/{target}/actions", ActionsHandler),
            (f"{PREFIX}/{target}/openapi.json", OpenAPIHandler),
        ]
    return [(url_path_join(base_url, pattern), handler) for pattern, handler in routes]
