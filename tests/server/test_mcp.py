"""MCP over Streamable HTTP: the SDK's own client against a real server and kernel."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import mcp_types as types
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from .conftest import Kernel, server_test


@pytest.fixture
def mcp_url(http_server: Any, kernel: Kernel, jp_http_port: int, jp_base_url: str) -> str:
    return f"http://127.0.0.1:{jp_http_port}{jp_base_url}notebook-actions/mcp/kernels/{kernel.id}"


@pytest.fixture
def token(jp_serverapp: Any) -> str:
    return str(jp_serverapp.identity_provider.token)


@asynccontextmanager
async def connect(
    url: str, headers: dict[str, str], *, on_message: Any = None
) -> AsyncIterator[ClientSession]:
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60)) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write, message_handler=on_message) as session,
    ):
        await session.initialize()
        yield session


@server_test
async def test_initialize_list_and_call(mcp_url: str, token: str) -> None:
    async with connect(mcp_url, {"Authorization": f"Bearer {token}"}) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert "add" in tools
        assert "hidden" not in tools
        assert tools["add"].description == "Add two numbers."
        result = await session.call_tool("add", {"a": 1, "b": 5})
        assert not result.is_error
        assert result.structured_content == {"result": 6}
        assert isinstance(result.content[0], types.TextContent)
        assert result.content[0].text == "6"
    await asyncio.sleep(0)
