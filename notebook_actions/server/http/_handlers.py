"""HTTP endpoints for the exported actions of running kernels.

Every route exists twice: by kernel id, and by notebook path (the kernel of the
notebook's running session). Nothing that arrives here becomes code: requests reach
the kernel as messages to its ``notebook_actions`` comm target.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Awaitable, Callable
from email.message import Message
from http import HTTPStatus
from http.client import responses
from typing import Any, TypeVar, cast

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized
from jupyter_server.auth.utils import HTTP_METHOD_TO_AUTH_ACTION
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

from ..._protocol import LISTING_VIEW, CallerInfo, Via, view_of
from ..._routes import API_ROOT, NAME_PATTERN, TARGET_PATTERNS, api_route
from .._config import NotebookActions
from .._errors import ServiceError
from .._replies import Chunk, End, Failed, Missing, Progress, Reply, Result, Waiting
from .._service import ActionService, Invocation, Invoke, Target
from ._body import Body, BufferedBody, Kind, MultipartBody, content_kind
from ._credential import no_credential_message
from ._drain import Drain
from ._identity import caller_of, limit_key
from ._not_found import method_not_allowed
from ._openapi import openapi_document
from ._problem import Problem
from ._replies import chunk_event, problem_for, problem_for_reply, result_data, sse_event
from ._visitors import Visitor, route_notebook

AUTH_RESOURCE = "notebook_actions"

#: What an anonymous visitor's call without the XSRF token is told.
VISITOR_XSRF = (
    "an anonymous call of a public notebook's action sends back the '_xsrf' cookie as the "
    "header X-XSRFToken (the app page does: reload it; a program can GET the app page first, "
    "or send the server's token instead)"
)

#: A body found too large while it is already on its way is read and dropped, up to this
#: many bytes past the limit, so that the client gets to read the 413; a body refused for
#: another reason before it was read, up to this many bytes.
DRAIN_BYTES = 4 << 20

#: A stream's events are handed to the client at least every this many bytes...
FLUSH_BYTES = 64 << 10
#: ...and a client that falls this many replies behind the kernel is cut off.
MAX_BACKLOG = 10_000


F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def http_errors(method: F) -> F:
    """The service's errors, raised in ``method``, as HTTP answers (``problem_for``)."""

    @functools.wraps(method)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return await method(*args, **kwargs)
        except ServiceError as err:
            raise problem_for(err) from None

    return cast("F", wrapper)


class BaseHandler(APIHandler):
    auth_resource = AUTH_RESOURCE
    #: the ``Authorization`` scheme a request without a valid credential is told to use
    token_scheme = "token"  # noqa: S105 (a scheme's name, not a secret)
    #: what a 405's message adds to "use GET" (say, what the other method does)
    method_hint = ""
    #: the kernel the request reaches (a served notebook's lease held until it finishes)
    _target: Target | None = None
    #: a draining server refuses this route's new requests, and waits for those in flight
    drains = True

    @property
    def service(self) -> ActionService:
        return cast("ActionService", self.settings["notebook_actions"])

    @property
    def conf(self) -> NotebookActions:
        return self.service.config

    @property
    def drain(self) -> Drain:
        return cast("Drain", self.settings["notebook_actions_drain"])

    async def prepare(self) -> None:  # type: ignore[override]
        if self.drains:
            self.drain.admit(self)  # (Draining: 503 with Retry-After)
        await super().prepare()

    def visitor_notebook(self) -> str | None:
        """The notebook an anonymous visitor would reach here, if it is public (``_visitors``)."""
        return None

    def no_credential(self) -> Problem:
        return Problem(403, no_credential_message(self, self.token_scheme))

    def check_xsrf_cookie(self) -> None:
        # A request with no valid credential is told to send the token, before jupyter-server
        # asks it for an XSRF token: that is for a browser that is logged in.
        if hasattr(self, "_jupyter_current_user") and not self.current_user:
            raise self.no_credential()
        try:
            super().check_xsrf_cookie()
        except web.HTTPError as err:
            if err.status_code != HTTPStatus.FORBIDDEN or not isinstance(self.current_user, Visitor):
                raise
            raise Problem(403, f"{err.log_message or 'XSRF check failed'}: {VISITOR_XSRF}") from None

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
            for name, value in exc.headers.items():
                self.set_header(name, value)
        # tornado's own 405 (a method the handler lacks) says nothing: say which to use
        elif status_code == HTTPStatus.METHOD_NOT_ALLOWED and isinstance(exc, web.HTTPError) and not exc.log_message:
            body["message"] = method_not_allowed(self)
        elif isinstance(exc, web.HTTPError):  # raised by jupyter-server or tornado
            if exc.log_message:
                body["message"] = exc.log_message % exc.args if exc.args else exc.log_message
            body["reason"] = exc.reason
        elif exc is not None:
            body["message"] = "Unhandled error in the notebook-actions server extension (see the server log)"
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def on_finish(self) -> None:
        self._release()

    def on_connection_close(self) -> None:
        super().on_connection_close()
        self._release()

    def _release(self) -> None:
        if self._target is not None:
            self._target.release()
        self.drain.release(self)

    def _route(self, kernel_id: str, path: str | None) -> str:
        return api_route(kernel_id) if path is None else api_route(notebook=path)

    def _not_found(self, name: str, kernel_id: str) -> str:
        return (
            f"no exported action {name!r} in kernel {kernel_id}: run the %%use_server cell that "
            "defines it (after %load_ext notebook_actions)"
        )


class NotebookRoute(BaseHandler):
    """A route by kernel id or by notebook path: a public notebook's is open to visitors."""

    def visitor_notebook(self) -> str | None:
        return route_notebook(self)


class ActionsHandler(NotebookRoute):
    method_hint = " (POST .../actions/{name} invokes an action)"

    @web.authenticated
    @authorized
    @http_errors
    async def get(self, kernel_id: str | None = None, path: str | None = None) -> None:
        """The exported actions of a kernel, with the JSON Schemas of their arguments and results."""
        target = await self.service.target(kernel_id=kernel_id, notebook=path)
        route = url_path_join(self.base_url, self._route(target.kernel_id, path))
        actions = await self.service.actions(target, fresh=True)
        listing = [{**view_of(a, LISTING_VIEW), "url": f"{route}/actions/{name}"} for name, a in actions.items()]
        self.finish(json.dumps({"kernel_id": target.kernel_id, "actions": listing}))


class OpenAPIHandler(NotebookRoute):
    @web.authenticated
    @authorized
    @http_errors
    async def get(self, kernel_id: str | None = None, path: str | None = None) -> None:
        """An OpenAPI 3.1 document of a kernel's exported actions."""
        target = await self.service.target(kernel_id=kernel_id, notebook=path)
        kid = target.kernel_id
        actions = await self.service.actions(target, fresh=True)
        title = f"notebook-actions: {path.strip('/')}" if path is not None else f"notebook-actions: kernel {kid}"
        document = openapi_document(
            list(actions.values()), base_url=self.base_url, route=self._route(kid, path), title=title
        )
        self.finish(json.dumps(document))


@web.stream_request_body
class InvokeHandler(NotebookRoute):
    """POST an action's arguments; the body streams in (files flow on to the kernel)."""

    method_hint = " with the action's arguments (GET .../actions lists the actions and their arguments)"
    #: Whether a client that accepts server-sent events hears that its call waits for the kernel's
    #: main thread (an event before the result): the app page's widgets show it, as in JupyterLab.
    waiting_events = False

    _body: Body | None = None
    _invocation: Invocation | None = None
    _limit = 0
    _drain_until = 0
    _received = 0
    _failed = False
    #: The answer, decided before the body was read: the body is read and dropped
    #: (up to a bound) before it is given, so that the connection stays usable.
    _refusal: Problem | None = None
    _gone = False
    #: the front door its calls come through (``current_user().via``)
    via: Via = "http"
    _caller: CallerInfo | None = None
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
            try:
                await self._accept(kind, content_type)
            except ServiceError as err:
                raise problem_for(err) from None
        except Problem as problem:
            # a body of any size may come: drop a bounded amount
            if problem.status != HTTPStatus.REQUEST_ENTITY_TOO_LARGE:
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
        connection = cast("Any", self.request.connection)
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
        self._caller = caller_of(self, self.via)
        # (RateLimited: 429, before the body)
        self.service.admit(limit_key(self, self._caller), anonymous=self._caller["anonymous"])
        # held until the request finishes: a served notebook's routing counts it in flight
        target = self._target = await self._resolve()
        if kind == "multipart":
            # Say 404 before a large upload travels to the kernel for nothing.
            if not await self._exports(target, kwargs["name"]):
                raise Problem(404, self._not_found(kwargs["name"], target.kernel_id))
            boundary = content_type.get_param("boundary")
            self._body = MultipartBody(
                boundary if isinstance(boundary, str) else "",
                functools.partial(self.service.upload, target),
                field_limit=options.max_body_bytes,
                chunk_bytes=options.upload_chunk_bytes,
            )
        else:
            self._body = BufferedBody(kind, self._limit)

    async def _resolve(self) -> Target:
        """The kernel the request is for, held until it finishes."""
        kwargs = self.path_kwargs
        return await self.service.target(kernel_id=kwargs.get("kernel_id"), notebook=kwargs.get("path"), hold=True)

    async def _exports(self, target: Target, name: str) -> bool:
        """Whether the kernel exports the action ``name`` (asked before an upload is read)."""
        return name in await self.service.actions(target, fresh=True)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        if self._early:
            # Say so, or a keep-alive client (a requests.Session, a browser) sends its next
            # request on a connection that is about to close, and sees it reset.
            self.set_header("Connection", "close")
        super().write_error(status_code, **kwargs)

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
        except ServiceError as err:
            self._fail(problem_for(err))
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
        if self._body is not None and self._invocation is None:
            self._body.abort()  # the kernel drops the files sent so far
        if self._invocation is not None:
            self._invocation.cancel()  # the caller left: stop the action in the kernel

    @web.authenticated
    @authorized
    async def post(
        self,
        name: str,
        kernel_id: str | None = None,  # noqa: ARG002 (the route's groups: prepare() read them)
        path: str | None = None,  # noqa: ARG002 (as kernel_id)
    ) -> None:
        """Invoke an exported action: JSON, urlencoded or multipart arguments in, its result out."""
        if self._failed or self._finished:
            return
        if self._refusal is not None:
            raise self._refusal
        body, target = self._prepared()
        try:
            invoke = body.finish(name)
        except Problem:
            body.abort()
            raise
        invoke.caller = self._caller
        try:
            try:
                async with self.service.turn(target, None if invoke.by_id else invoke.name):
                    await self._invoke(invoke)
            except ServiceError as err:
                raise problem_for(err) from None
        except Problem:
            if self._gone:
                return  # nobody to tell
            raise

    async def _invoke(self, invoke: Invoke) -> None:
        body, target = self._prepared()
        timeout = self.conf.timeout
        started = time.monotonic()
        try:
            invocation = self._invocation = self.service.invoke(target, invoke)
        except ServiceError:
            body.abort()
            raise
        events = "text/event-stream" in self.request.headers.get("Accept", "")
        reply = await invocation.next(timeout, waiting=events and self.waiting_events)
        if self._gone:
            return
        if isinstance(reply, Waiting):  # said in a stream of events, whatever the action answers
            await self._stream(invocation, reply)
            return
        if not isinstance(reply, (Chunk, Progress, End)):
            self._abort_untaken(reply)
            self._final(reply, invoke.name)
            return
        if events:
            await self._stream(invocation, reply)
            return
        chunks = []
        while isinstance(reply, (Chunk, Progress)):
            if isinstance(reply, Chunk):
                chunks.append(reply.json_value)
            reply = await invocation.next(timeout - (time.monotonic() - started))
        if isinstance(reply, End):
            self.finish(json.dumps({"value": chunks}))
        else:
            self._final(reply, invoke.name)

    def _abort_untaken(self, reply: Reply) -> None:
        if isinstance(reply, Missing) or (isinstance(reply, Failed) and not reply.digest):
            self._prepared()[0].abort()  # uploads the kernel did not take

    def _prepared(self) -> tuple[Body, Target]:
        """The body and kernel ``prepare()`` set up (tornado calls ``post`` only after it)."""
        if self._body is None or self._target is None:
            message = "post() before prepare() chose the kernel and read the body"
            raise RuntimeError(message)
        return self._body, self._target

    def _final(self, reply: Reply, name: str) -> None:
        if isinstance(reply, Result):
            if reply.data is not None:
                self.finish(reply.data, set_content_type="application/octet-stream")
            else:
                self.finish(json.dumps({"value": reply.value}))
            return
        not_found = self._not_found(name, self._prepared()[1].kernel_id)
        raise problem_for_reply(reply, self.conf.expose_exception_messages, not_found)

    async def _stream(self, invocation: Invocation, reply: Reply) -> None:
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
            if isinstance(reply, (Chunk, Progress)):
                event = sse_event(*chunk_event(reply))
                unflushed += len(event)
                self.write(event)
            elif isinstance(reply, Waiting):
                self.write(sse_event("waiting", {"message": reply.message}))
            elif isinstance(reply, End):
                self.write(sse_event("end", {}))
                break
            elif isinstance(reply, Result):  # after a waiting event
                self.write(sse_event("result", result_data(reply)))
                break
            else:
                self._abort_untaken(reply)
                err = problem_for_reply(reply, self.conf.expose_exception_messages, "the action is gone")
                self.write(sse_event("error", {"status": err.status, **err.body()}))
                break
            if not invocation.backlog or unflushed >= FLUSH_BYTES or invocation.backlog > MAX_BACKLOG:
                # Wait for the client to take what was written (what it has not read yet
                # stays in memory here, and so does what the kernel sends meanwhile).
                if not await self._flushed(invocation, timeout):
                    return
                unflushed = 0
            if self._gone:
                return
            try:
                reply = await invocation.next(timeout)
            except ServiceError as error:
                err = problem_for(error)
                self.write(sse_event("error", {"status": err.status, **err.body()}))
                break
            if self._gone:  # on_connection_close ran while we awaited
                return  # type: ignore[unreachable]
        self.finish(set_content_type="text/event-stream")

    async def _flushed(self, invocation: Invocation, timeout: float) -> bool:
        """Whether the client took the stream's events so far; if it stopped reading for
        ``timeout`` seconds, or fell too far behind, the action is cancelled and the
        connection closed."""
        flushing = asyncio.ensure_future(self.flush())
        flushing.add_done_callback(lambda future: future.cancelled() or future.exception())
        await asyncio.wait([flushing], timeout=timeout)
        if flushing.done() and flushing.exception() is not None:
            return False  # the caller left (and the action is cancelled)
        if flushing.done() and invocation.backlog <= MAX_BACKLOG:
            return True
        self.log.warning("notebook_actions: a stream's client stopped reading: the action is cancelled")
        invocation.cancel()
        stream = getattr(self.request.connection, "stream", None)
        if stream is not None:
            stream.close()
        return False


def handlers(base_url: str) -> list[tuple[str, type[BaseHandler]]]:
    routes: list[tuple[str, type[BaseHandler]]] = []
    for target in TARGET_PATTERNS:
        route = f"{API_ROOT}/{target}"
        routes += [
            (f"{route}/actions/{NAME_PATTERN}", InvokeHandler),
            (f"{route}/actions", ActionsHandler),
            (f"{route}/openapi.json", OpenAPIHandler),
        ]
    return [(url_path_join(base_url, pattern), handler) for pattern, handler in routes]
