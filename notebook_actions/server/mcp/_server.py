"""The MCP server: ``tools/list`` and ``tools/call`` answered by a kernel's exported actions.

One ``mcp`` SDK lowlevel ``Server`` serves every kernel: the tornado handler that
received a request has already authenticated it and found its kernel, and passes
that kernel along in the ASGI scope (``KernelRef``), where the tool handlers read it
from the request context. A served notebook's requests name no kernel: each list or
call takes one of its pool's kernels for as long as it runs (counted in flight, so
the pool's routing sees it). Progress maps onto ``notifications/progress``; when the
client cancels a call (``notifications/cancelled``), the SDK cancels the handler and
the handler cancels the action in the kernel.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import mcp_types as types
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.server.models import InitializationOptions
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS

from ... import __version__
from ..._protocol import CallerInfo, FileRef
from .._errors import ServiceError
from .._replies import Cancelled, Chunk, End, Failed, Invalid, Missing, Progress, Result, Unexpected
from .._service import ActionService, Invocation, Invoke, Target
from ._tools import (
    InvalidFile,
    bytes_result,
    error_result,
    invalid_result,
    result_of,
    take_files,
    tool_for,
)
from ._watch import Watchers

#: Where the tornado handler puts the request's ``KernelRef`` in the ASGI scope.
SCOPE_KEY = "notebook_actions.kernel"
SESSION_HEADER = "mcp-session-id"


@dataclass
class KernelRef:
    """The kernel a request is for, as the tornado handler resolved it."""

    service: ActionService
    #: None for a served notebook: each use takes a kernel of its pool
    kernel_id: str | None
    notebook: str | None
    #: Set when the HTTP request that carries the call is gone (the client disconnected).
    gone: asyncio.Event
    #: who the request is from, as the tornado handler authenticated it
    caller: CallerInfo | None = None
    #: what its calls count against in the rate limit (``_identity.limit_key``)
    limit_key: str = ""

    @contextlib.asynccontextmanager
    async def use(self) -> AsyncIterator[Target]:
        """The kernel while the block runs (a served notebook's kernel held that long, whether
        the block ends, is cancelled by the client, or its connection goes)."""
        if self.kernel_id is not None:
            async with self.service.using(kernel_id=self.kernel_id) as target:
                yield target
        else:
            async with self.service.using(notebook=self.notebook, hold=True) as target:
                yield target


def _kernel(ctx: ServerRequestContext[Any, Any]) -> KernelRef:
    scope = getattr(ctx.request, "scope", None) or {}
    ref = scope.get(SCOPE_KEY)
    if not isinstance(ref, KernelRef):
        raise MCPError(INTERNAL_ERROR, "this MCP request reached the server without a kernel")
    return ref


class ToolServer(Server[Any]):
    """The SDK's lowlevel server with our tool handlers; it says ``listChanged``."""

    def __init__(self, watchers: Watchers) -> None:
        super().__init__(
            "notebook-actions",
            version=__version__,
            instructions="Tools are the exported actions of a Jupyter notebook's kernel.",
            on_list_tools=self.list_tools,
            on_call_tool=self.call_tool,
        )
        self.watchers = watchers
        self.middleware.append(self._watch_sessions)

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        return super().create_initialization_options(
            notification_options or NotificationOptions(tools_changed=True), experimental_capabilities, extensions
        )

    async def _watch_sessions(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        """Remember which kernel each session talks to, to tell it when the tools change."""
        scope = getattr(ctx.request, "scope", None) or {}
        ref = scope.get(SCOPE_KEY)
        headers = getattr(ctx.request, "headers", None)
        session_id = headers.get(SESSION_HEADER) if headers is not None else None
        if isinstance(ref, KernelRef) and ref.kernel_id is not None and session_id:
            self.watchers.watch(session_id, ref.kernel_id, ctx.session)
        return await call_next(ctx)

    def _watch_pooled(self, ctx: ServerRequestContext[Any, Any], ref: KernelRef, target: Target) -> None:
        """A served notebook's session hears of the tools of the kernel that last answered it."""
        headers = getattr(ctx.request, "headers", None)
        session_id = headers.get(SESSION_HEADER) if headers is not None else None
        if ref.kernel_id is None and session_id:
            self.watchers.watch(session_id, target.kernel_id, ctx.session)

    async def list_tools(
        self,
        ctx: ServerRequestContext[Any, Any],
        params: types.PaginatedRequestParams | None,  # noqa: ARG002  # one page: every tool
    ) -> types.ListToolsResult:
        ref = _kernel(ctx)
        try:
            async with ref.use() as target:
                self._watch_pooled(ctx, ref, target)
                actions = await ref.service.actions(target)
        except ServiceError as err:
            raise MCPError(INTERNAL_ERROR, err.message) from None
        return types.ListToolsResult(tools=[tool_for(info) for info in actions.values()])

    async def call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        ref = _kernel(ctx)
        try:
            ref.service.admit(ref.limit_key)  # (RateLimited: a tool error saying when to retry)
            async with ref.use() as target:
                self._watch_pooled(ctx, ref, target)
                async with ref.service.turn(target, params.name):  # (max_concurrency)
                    return await self._call(ctx, ref, target, params)
        except ServiceError as err:
            return error_result(err.message)

    async def _call(
        self, ctx: ServerRequestContext[Any, Any], ref: KernelRef, target: Target, params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        info = (await ref.service.actions(target)).get(params.name)
        if info is None:
            unknown = (
                f"Unknown tool {params.name!r}: tools/list names this kernel's exported actions "
                "(a %%use_server cell defines them)"
            )
            raise MCPError(INVALID_PARAMS, unknown)
        try:
            arguments, files = take_files(params.arguments or {}, info.get("files") or {})
        except InvalidFile as err:
            return invalid_result([err.error])
        refs: dict[str, list[FileRef]] = {}
        for index, (field, name, content_type, _) in enumerate(files):
            refs.setdefault(field, []).append({"name": name, "content_type": content_type, "buffer": index})
        invoke = Invoke(params.name, arguments, files=refs, buffers=[data for *_, data in files], caller=ref.caller)
        invocation = ref.service.invoke(target, invoke)
        outcome = asyncio.ensure_future(self._outcome(ctx, ref, invocation, info))
        gone = asyncio.ensure_future(ref.gone.wait())
        try:
            await asyncio.wait([outcome, gone], return_when=asyncio.FIRST_COMPLETED)
            if not outcome.done():
                return error_result("the client disconnected: the call was cancelled")
            return outcome.result()
        finally:
            # Cancelled by the client (notifications/cancelled), timed out, or the
            # connection went: the action stops in the kernel too.
            gone.cancel()
            if not outcome.done():
                outcome.cancel()
                with contextlib.suppress(BaseException):
                    await outcome
            invocation.cancel()

    async def _outcome(
        self, ctx: ServerRequestContext[Any, Any], ref: KernelRef, invocation: Invocation, info: Any
    ) -> types.CallToolResult:
        """The call's replies as one tool result."""
        name = info["name"]
        values: list[Any] = []
        async for reply in invocation:
            if isinstance(reply, Progress):
                # a no-op unless the client sent a progressToken
                await ctx.session.report_progress(reply.value, reply.total, reply.message or None)
            elif isinstance(reply, Chunk):
                values.append(reply.json_value)
            elif isinstance(reply, End):
                return result_of(values, None)
            elif isinstance(reply, Result):
                if reply.data is not None:
                    return bytes_result(reply.data, name)
                return result_of(reply.value, tool_for(info))
            elif isinstance(reply, Invalid):
                return invalid_result(reply.errors)
            elif isinstance(reply, Missing):
                raise MCPError(INVALID_PARAMS, f"Unknown tool {name!r}: the kernel no longer exports it")
            elif isinstance(reply, Failed):
                text, extra = reply.public(ref.service.config.expose_exception_messages)
                if "exception_message" in extra:
                    text += f"\n{extra['type']}: {extra['exception_message']}"
                return error_result(text)
            elif isinstance(reply, Cancelled):
                return error_result("the request was cancelled in the kernel")
            elif isinstance(reply, Unexpected):
                return error_result(f"unexpected reply from the kernel: {reply.kind!r}")
        return error_result("the request was cancelled in the kernel")
