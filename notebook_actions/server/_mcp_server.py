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
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import mcp_types as types
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.server.models import InitializationOptions
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS

from .. import __version__
from ._bridge import Bridge, BridgeError, Call
from ._mcp_tools import (
    InvalidFile,
    bytes_result,
    error_result,
    file_params,
    invalid_result,
    result_of,
    take_files,
    tool_for,
)
from ._mcp_watch import Watchers, answer
from ._problem import Problem
from ._replies import chunk_value, error_for

#: Where the tornado handler puts the request's ``KernelRef`` in the ASGI scope.
SCOPE_KEY = "notebook_actions.kernel"
SESSION_HEADER = "mcp-session-id"


@dataclass
class KernelRef:
    """The kernel a request is for, as the tornado handler resolved it."""

    #: None for a served notebook: each use takes a kernel of its pool
    kernel_id: str | None
    #: The kernel's bridge while the block runs (a pool's kernel held that long); raises
    #: ``Problem`` when no kernel can answer.
    use: Callable[[], AbstractAsyncContextManager[Bridge]]
    timeout: float
    expose_exception_messages: bool
    #: Set when the HTTP request that carries the call is gone (the client disconnected).
    gone: asyncio.Event


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

    def _watch_pooled(self, ctx: ServerRequestContext[Any, Any], ref: KernelRef, bridge: Bridge) -> None:
        """A served notebook's session hears of the tools of the kernel that last answered it."""
        headers = getattr(ctx.request, "headers", None)
        session_id = headers.get(SESSION_HEADER) if headers is not None else None
        if ref.kernel_id is None and session_id:
            self.watchers.watch(session_id, bridge.kernel_id, ctx.session)

    async def _actions(self, bridge: Bridge, timeout: float) -> dict[str, dict[str, Any]]:
        return await self.watchers.kernel(bridge.kernel_id).actions(bridge, timeout)

    async def list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        ref = _kernel(ctx)
        try:
            async with ref.use() as bridge:
                self._watch_pooled(ctx, ref, bridge)
                actions = await self._actions(bridge, ref.timeout)
        except Problem as err:
            raise MCPError(INTERNAL_ERROR, err.message) from None
        return types.ListToolsResult(tools=[tool_for(info) for info in actions.values()])

    async def call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        ref = _kernel(ctx)
        try:
            async with ref.use() as bridge:
                self._watch_pooled(ctx, ref, bridge)
                return await self._call(ctx, ref, bridge, params)
        except Problem as err:
            return error_result(err.message)

    async def _call(
        self, ctx: ServerRequestContext[Any, Any], ref: KernelRef, bridge: Bridge, params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        actions = await self._actions(bridge, ref.timeout)
        info = actions.get(params.name)
        if info is None:
            unknown = (
                f"Unknown tool {params.name!r}: tools/list names this kernel's exported actions "
                "(a %%use_server cell defines them)"
            )
            raise MCPError(INVALID_PARAMS, unknown)
        try:
            arguments, files = take_files(params.arguments or {}, file_params(info.get("params") or {}))
        except InvalidFile as err:
            return invalid_result([err.error])
        message: dict[str, Any] = {"kind": "invoke", "name": params.name, "args": arguments}
        buffers = [data for _, _, _, data in files]
        if files:
            refs: dict[str, list[dict[str, Any]]] = {}
            for index, (field, name, content_type, _) in enumerate(files):
                refs.setdefault(field, []).append({"name": name, "content_type": content_type, "buffer": index})
            message["files"] = refs
        try:
            call = bridge.request(message, buffers)
        except BridgeError as err:
            return error_result(err.message)
        outcome = asyncio.ensure_future(self._outcome(ctx, ref, call, info))
        gone = asyncio.ensure_future(ref.gone.wait())
        try:
            await asyncio.wait([outcome, gone], return_when=asyncio.FIRST_COMPLETED)
            if not outcome.done():
                return error_result("the client disconnected: the call was cancelled")
            return outcome.result()
        except Problem as err:
            return error_result(err.message)
        finally:
            # Cancelled by the client (notifications/cancelled), timed out, or the
            # connection went: the action stops in the kernel too.
            gone.cancel()
            if not outcome.done():
                outcome.cancel()
                with contextlib.suppress(BaseException):
                    await outcome
            call.cancel()

    async def _outcome(
        self, ctx: ServerRequestContext[Any, Any], ref: KernelRef, call: Call, info: dict[str, Any]
    ) -> types.CallToolResult:
        name = info["name"]
        reply, buffers = await answer(call, ref.timeout)
        values: list[Any] = []
        while reply.get("kind") == "chunk":
            progress = reply.get("progress")
            if progress is not None:
                # a no-op unless the client sent a progressToken
                await ctx.session.report_progress(
                    progress["value"], progress.get("total"), progress.get("message") or None
                )
            else:
                values.append(chunk_value(reply, buffers))
            reply, buffers = await answer(call, ref.timeout)
        kind = reply.get("kind")
        if kind == "end":
            return result_of(values, None)
        if kind == "result":
            if "buffer" in reply and buffers:
                return bytes_result(bytes(buffers[0]), name)
            return result_of(reply.get("value"), tool_for(info))
        if kind == "invalid":
            return invalid_result(list(reply.get("errors") or []))
        if kind == "not_found":
            raise MCPError(INVALID_PARAMS, f"Unknown tool {name!r}: the kernel no longer exports it")
        err = error_for(reply, ref.expose_exception_messages, f"the action {name!r} is gone")
        text = err.message
        if "exception_message" in err.extra:
            text += f"\n{err.extra['type']}: {err.extra['exception_message']}"
        return error_result(text)
