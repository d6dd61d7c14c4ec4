"""MCP over Streamable HTTP: the SDK's own client against a real server and kernel."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import anyio
import httpx2
import mcp_types as types
import pytest
from jupyter_server.auth import Authorizer
from mcp import Client, ClientSession, MCPError
from mcp.client.streamable_http import streamable_http_client
from traitlets.config import Config

from notebook_actions.server._mcp_watch import Watchers

from .conftest import SECRETS, Kernel, server_test
from .test_listing import NOTEBOOK, kernel_loop, notebook_kernel  # noqa: F401 (fixtures)

#: An action to cancel: it reports progress once, then waits.
CRAWL = '''
%%use_server
import asyncio
from collections.abc import AsyncIterator

from notebook_actions import Progress

_crawl = {"cancelled": 0}


async def crawl(pages: int) -> AsyncIterator[Progress]:
    """Crawl slowly."""
    try:
        yield Progress(1, pages, "page 1")
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        _crawl["cancelled"] += 1
        raise


def crawl_seen() -> dict:
    return dict(_crawl)
'''

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
}
BOTH = "application/json, text/event-stream"


@pytest.fixture
def base(http_server: Any, jp_http_port: int, jp_base_url: str) -> str:
    return f"http://127.0.0.1:{jp_http_port}{jp_base_url}notebook-actions/mcp"


@pytest.fixture
def mcp_url(base: str, kernel: Kernel) -> str:
    return f"{base}/kernels/{kernel.id}"


@pytest.fixture
def token(jp_serverapp: Any) -> str:
    return str(jp_serverapp.identity_provider.token)


@pytest.fixture
def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Seen:
    """Everything the client received, as JSON text, to look for secrets in."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.list_changed = asyncio.Event()
        self.get_stream_open = asyncio.Event()
        self.transport = Recording()

    async def on_message(self, message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            self.list_changed.set()
        if hasattr(message, "model_dump_json"):
            self.texts.append(message.model_dump_json())

    async def on_response(self, response: httpx2.Response) -> None:
        if response.request.method == "GET" and response.status_code == 200:
            self.get_stream_open.set()

    def keep(self, result: Any) -> Any:
        self.texts.append(result.model_dump_json())
        return result


class Recording(httpx2.AsyncBaseTransport):
    """The client's HTTP transport, keeping every byte the server sent."""

    def __init__(self) -> None:
        self.inner = httpx2.AsyncHTTPTransport()
        self.received = bytearray()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self.inner.handle_async_request(request)
        received = self.received
        self.received += str(response.headers).encode()

        class Tee(httpx2.AsyncByteStream):
            async def __aiter__(self) -> AsyncIterator[bytes]:
                async for chunk in cast("httpx2.AsyncByteStream", response.stream):
                    received.extend(chunk)
                    yield chunk

            async def aclose(self) -> None:
                await cast("httpx2.AsyncByteStream", response.stream).aclose()

        return httpx2.Response(
            response.status_code, headers=response.headers, stream=Tee(), extensions=response.extensions
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


@asynccontextmanager
async def connect(url: str, headers: dict[str, str], seen: Seen | None = None) -> AsyncIterator[ClientSession]:
    seen = seen or Seen()
    async with (
        httpx2.AsyncClient(
            headers=headers,
            timeout=httpx2.Timeout(60),
            event_hooks={"response": [seen.on_response]},
            transport=seen.transport,
        ) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write, message_handler=seen.on_message) as session,
    ):
        seen.keep(await session.initialize())
        yield session


def text(result: types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


@server_test
async def test_tools_are_the_exported_actions(mcp_url: str, bearer: dict[str, str]) -> None:
    seen = Seen()
    async with connect(mcp_url, bearer, seen) as session:
        assert session.server_capabilities is not None
        assert session.server_capabilities.tools is not None
        assert session.server_capabilities.tools.list_changed
        tools = {tool.name: tool for tool in seen.keep(await session.list_tools()).tools}
    assert "hidden" not in tools  # inline actions are never tools
    assert {"add", "echo", "fail", "steps", "login", "manhattan", "digest"} <= set(tools)
    add = tools["add"]
    assert add.description == "Add two numbers."
    assert add.input_schema["type"] == "object"
    assert add.input_schema["required"] == ["a"]
    assert add.input_schema["properties"]["b"]["default"] == 2
    assert add.output_schema is None  # an int is no object
    point = tools["manhattan"].output_schema
    assert point is not None and point["type"] == "object" and set(point["properties"]) == {"x", "y"}
    login = tools["login"].input_schema["properties"]["password"]
    assert "default" not in login and login["writeOnly"] is True
    file = tools["digest"].input_schema["properties"]["file"]
    assert file["properties"]["contents"]["contentEncoding"] == "base64"
    assert "base64" in (tools["digest"].description or "")
    assert "Streams" in (tools["steps"].description or "")
    for secret in SECRETS:
        assert not any(secret in t for t in seen.texts)
        assert secret.encode() not in seen.transport.received


@server_test
async def test_call_gives_structured_content_and_text(mcp_url: str, bearer: dict[str, str]) -> None:
    async with connect(mcp_url, bearer) as session:
        result = await session.call_tool("add", {"a": 1, "b": 5})
        assert not result.is_error
        assert result.structured_content == {"result": 6}
        assert text(result) == "6"
        # an object result as is, validated by the client against the output schema
        result = await session.call_tool("manhattan", {"p": {"x": 3, "y": -4}})
        assert result.structured_content == {"x": 3, "y": 4}
        assert json.loads(text(result)) == {"x": 3, "y": 4}
        result = await session.call_tool("raw", {"n": 1})
        resource = result.content[1]
        assert isinstance(resource, types.EmbeddedResource)
        assert isinstance(resource.resource, types.BlobResourceContents)
        assert base64.b64decode(resource.resource.blob) == bytes(range(256))


@server_test
async def test_files_travel_as_base64(mcp_url: str, bearer: dict[str, str]) -> None:
    data = bytes(range(256)) * 40
    contents = base64.b64encode(data).decode()
    async with connect(mcp_url, bearer) as session:
        result = await session.call_tool(
            "digest", {"file": {"name": "a.bin", "content_type": "x/y", "contents": contents}, "label": "L"}
        )
        assert result.structured_content == {
            "name": "a.bin",
            "content_type": "x/y",
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "label": "L",
        }
        result = await session.call_tool("digests", {"files": [{"contents": contents}, {"contents": ""}]})
        assert [d["size"] for d in json.loads(text(result))] == [len(data), 0]
        result = await session.call_tool("digest", {"file": {"contents": "not base64!"}})
        assert result.is_error
        assert text(result).splitlines()[1:] == ["- file.contents: 'contents' is not valid base64."]


@server_test
async def test_invalid_arguments_give_one_line_per_field(mcp_url: str, bearer: dict[str, str]) -> None:
    async with connect(mcp_url, bearer) as session:
        result = await session.call_tool("add", {"a": "one", "c": 1})
        assert result.is_error
        lines = text(result).splitlines()
        assert lines[0] == "Invalid arguments:"
        assert sorted(lines[1:]) == [
            "- a: Input should be a valid integer, unable to parse string as an integer",
            "- c: Unexpected argument 'c': add takes a, b.",
        ]
        result = await session.call_tool("manhattan", {"p": {"x": 1}})
        assert text(result).splitlines()[1:] == ["- p.y: Field required"]
        with pytest.raises(MCPError, match="Unknown tool 'hidden'"):
            await session.call_tool("hidden", {"x": 1})


@server_test
async def test_an_exception_gives_its_type_and_digest_never_a_secret(mcp_url: str, bearer: dict[str, str]) -> None:
    seen = Seen()
    async with connect(mcp_url, bearer, seen) as session:
        result = seen.keep(await session.call_tool("fail", {"why": "nope"}))
        assert result.is_error
        assert "ValueError" in text(result) and "digest" in text(result)
        assert "Traceback" not in text(result) and "nope" not in text(result)
        # raised while validating, by user code: the type only
        result = seen.keep(await session.call_tool("strict", {"s": {"n": -1}}))
        assert result.is_error and "TypeError" in text(result)
        result = seen.keep(await session.call_tool("flaky", {"n": 2}))
        assert result.is_error and "RuntimeError" in text(result)
        result = seen.keep(await session.call_tool("login", {"user": "ann"}))
        assert result.structured_content == {"result": "hello ann"}
    assert b"digest" in seen.transport.received  # the recording holds the answers
    for secret in SECRETS:
        assert not any(secret in t for t in seen.texts), secret
        assert secret.encode() not in seen.transport.received, secret


@server_test
async def test_generators_stream_progress(mcp_url: str, bearer: dict[str, str]) -> None:
    reported: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        reported.append((progress, total, message))

    async with connect(mcp_url, bearer) as session:
        result = await session.call_tool("steps", {"n": 3}, progress_callback=on_progress)
        assert result.structured_content == {"result": ["done"]}
        assert reported == [(1, 3, "step"), (2, 3, "step"), (3, 3, "step")]
        result = await session.call_tool("ticks", {"n": 3})
        assert result.structured_content == {"result": ["tick 0", "tick 1", "tick 2"]}


@server_test
async def test_cancelling_a_call_cancels_the_action_in_the_kernel(
    mcp_url: str, bearer: dict[str, str], kernel: Kernel
) -> None:
    await kernel.run(CRAWL)
    started = asyncio.Event()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        started.set()

    async with connect(mcp_url, bearer) as session:
        async with anyio.create_task_group() as group:
            group.start_soon(lambda: session.call_tool("crawl", {"pages": 5}, progress_callback=on_progress))
            await started.wait()  # running in the kernel
            group.cancel_scope.cancel()  # the client sends notifications/cancelled
        for _ in range(200):
            seen = (await session.call_tool("crawl_seen", {})).structured_content
            if seen == {"cancelled": 1}:
                break
            await asyncio.sleep(0.05)
        assert seen == {"cancelled": 1}


@server_test
async def test_rerunning_a_cell_changes_the_list_and_says_so(
    mcp_url: str, bearer: dict[str, str], kernel: Kernel
) -> None:
    seen = Seen()
    async with connect(mcp_url, bearer, seen) as session:
        names = {tool.name for tool in (await session.list_tools()).tools}
        assert "shout" not in names
        await seen.get_stream_open.wait()
        await kernel.run('%%use_server\ndef shout(text: str) -> str:\n    """Shout."""\n    return text.upper()\n')
        await asyncio.wait_for(seen.list_changed.wait(), 30)
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert tools["shout"].description == "Shout."
        assert (await session.call_tool("shout", {"text": "hi"})).structured_content == {"result": "HI"}


@server_test
async def test_100_concurrent_calls_each_get_their_own_result(mcp_url: str, bearer: dict[str, str]) -> None:
    async with connect(mcp_url, bearer) as session:

        async def call(i: int) -> None:
            if i % 2:
                result = await session.call_tool("echo", {"text": f"call {i}", "times": i})
                assert result.structured_content == {"text": f"call {i}", "times": i, "loud": False, "tags": []}
            else:
                result = await session.call_tool("nap", {"seconds": (i % 7) / 100})
                assert result.structured_content == {"result": (i % 7) / 100}

        await asyncio.gather(*(call(i) for i in range(100)))


@server_test
async def test_token_in_either_header_form(mcp_url: str, token: str) -> None:
    for header in (f"Bearer {token}", f"token {token}"):
        async with connect(mcp_url, {"Authorization": header}) as session:
            assert (await session.call_tool("add", {"a": 2})).structured_content == {"result": 4}


@server_test
async def test_wrong_or_missing_token_is_refused(mcp_url: str, token: str) -> None:
    async with httpx2.AsyncClient() as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {token}x"}):
            r = await http.post(mcp_url, json=INIT, headers={"Accept": BOTH, **headers})
            assert r.status_code == 403, headers
            assert "mcp-session-id" not in r.headers


@server_test
async def test_a_foreign_origin_is_refused_even_with_a_token(mcp_url: str, bearer: dict[str, str]) -> None:
    async with httpx2.AsyncClient() as http:
        r = await http.post(mcp_url, json=INIT, headers={"Accept": BOTH, "Origin": "http://evil.example", **bearer})
        assert r.status_code == 403
        assert "origin" in r.json()["error"]["message"]
        r = await http.get(mcp_url, headers={"Accept": "text/event-stream", "Origin": "http://evil.example", **bearer})
        assert r.status_code == 403
        own = "http://" + urllib.parse.urlsplit(mcp_url).netloc
        r = await http.post(mcp_url, json=INIT, headers={"Accept": BOTH, "Origin": own, **bearer})
        assert r.status_code == 200


@server_test
async def test_json_responses_for_a_client_that_takes_no_events(mcp_url: str, bearer: dict[str, str]) -> None:
    headers = {"Accept": "application/json", **bearer}
    async with httpx2.AsyncClient() as http:
        r = await http.post(mcp_url, json=INIT, headers=headers)
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
        session = {"Mcp-Session-Id": r.headers["mcp-session-id"], "MCP-Protocol-Version": "2025-11-25"}
        headers = {**headers, **session}
        r = await http.post(mcp_url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
        assert r.status_code == 202
        call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 40}}}
        r = await http.post(mcp_url, json=call, headers=headers)
        assert r.json()["result"]["structuredContent"] == {"result": 42}
        # DELETE ends the session
        assert (await http.delete(mcp_url, headers=headers)).status_code == 200
        assert (await http.post(mcp_url, json=call, headers=headers)).status_code == 404


@server_test
async def test_unknown_kernel_is_404(base: str, bearer: dict[str, str]) -> None:
    async with httpx2.AsyncClient() as http:
        r = await http.post(f"{base}/kernels/00000000-0000-0000-0000-000000000000", json=INIT, headers=bearer)
        assert r.status_code == 404
        assert "no running kernel" in r.json()["error"]["message"]


@server_test
async def test_a_notebook_by_its_path(base: str, bearer: dict[str, str], notebook_kernel: Kernel) -> None:  # noqa: F811
    async with connect(f"{base}/notebooks/{urllib.parse.quote(NOTEBOOK)}", bearer) as session:
        assert (await session.call_tool("add", {"a": 40})).structured_content == {"result": 42}


@server_test
async def test_the_stateless_2026_revision_too(mcp_url: str, bearer: dict[str, str], kernel: Kernel) -> None:
    """The SDK's high-level Client probes server/discover (2026-07-28) before falling back."""
    await kernel.run(CRAWL)
    started = asyncio.Event()
    reported: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        reported.append((progress, total, message))

    async def on_crawl_progress(progress: float, total: float | None, message: str | None) -> None:
        started.set()

    async with (
        httpx2.AsyncClient(headers=bearer, timeout=httpx2.Timeout(60)) as http,
        Client(streamable_http_client(mcp_url, http_client=http)) as client,
    ):
        assert client.protocol_version == "2026-07-28"
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert "add" in names and "hidden" not in names
        assert (await client.call_tool("add", {"a": 1})).structured_content == {"result": 3}
        result = await client.call_tool("steps", {"n": 2}, progress_callback=on_progress)
        assert result.structured_content == {"result": ["done"]}
        assert reported == [(1, 2, "step"), (2, 2, "step")]
        async with anyio.create_task_group() as group:
            group.start_soon(lambda: client.call_tool("crawl", {"pages": 5}, progress_callback=on_crawl_progress))
            await started.wait()
            group.cancel_scope.cancel()
        for _ in range(200):
            seen = (await client.call_tool("crawl_seen", {})).structured_content
            if seen == {"cancelled": 1}:
                break
            await asyncio.sleep(0.05)
        assert seen == {"cancelled": 1}


@server_test
async def test_a_body_over_the_limit_is_refused_before_it_is_read(mcp_url: str, bearer: dict[str, str]) -> None:
    huge = {**INIT, "params": {**INIT["params"], "padding": "x" * (1 << 21)}}  # type: ignore[dict-item]
    async with httpx2.AsyncClient() as http:
        r = await http.post(mcp_url, json=huge, headers={"Accept": BOTH, **bearer})
        assert r.status_code == 413
        assert "max_body_bytes" in r.json()["error"]["message"]


@server_test
async def test_a_kernel_without_the_extension_says_what_to_do(
    base: str, bearer: dict[str, str], bare_kernel: Kernel
) -> None:
    async with connect(f"{base}/kernels/{bare_kernel.id}", bearer) as session:
        with pytest.raises(MCPError, match="%load_ext notebook_actions"):
            await session.list_tools()
        result = await session.call_tool("add", {"a": 1})
        assert result.is_error and "%load_ext notebook_actions" in text(result)


@pytest.mark.parametrize("notebook_actions_config", [{"timeout": 1.0}])
@server_test
async def test_a_call_past_the_timeout_is_cancelled_in_the_kernel(mcp_url: str, bearer: dict[str, str]) -> None:
    async with connect(mcp_url, bearer) as session:
        result = await session.call_tool("nap", {"seconds": 30})
        assert result.is_error and "did not finish within 1 s" in text(result)
        for _ in range(200):
            seen = (await session.call_tool("seen", {})).structured_content
            if seen == {"cancelled": 1, "closed": 0, "napping": 1}:
                break
            await asyncio.sleep(0.05)
        assert seen == {"cancelled": 1, "closed": 0, "napping": 1}


class ReadOnly(Authorizer):
    """Everyone may read, no one may write."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return action == "read"


@pytest.mark.parametrize(
    "jp_server_config",
    [Config({"ServerApp": {"jpserver_extensions": {"notebook_actions": True}, "authorizer_class": ReadOnly}})],
)
@server_test
async def test_listing_needs_read_and_calling_needs_write(mcp_url: str, bearer: dict[str, str]) -> None:
    async with connect(mcp_url, bearer) as session:
        assert "add" in {tool.name for tool in (await session.list_tools()).tools}
        with pytest.raises(MCPError, match="not authorized to write on resource: notebook_actions"):
            await session.call_tool("add", {"a": 1})


@server_test
async def test_the_notebook_names_the_mcp_url(kernel: Kernel, caplog: pytest.LogCaptureFixture) -> None:
    route = f"notebook-actions/mcp/kernels/{kernel.id}"
    outputs = await kernel.run('%%use_server\ndef ping() -> str:\n    return "pong"\n')
    shown = "".join(str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert f"MCP tools at /{route}" in shown
    code = "from notebook_actions import curl_command, mcp_config\nprint(curl_command(ping))\nprint(mcp_config())"
    printed = "".join(str(o.get("text", "")) for o in await kernel.run(code))
    # The server's own URL (with its port and base URL), found from its runtime file beside the
    # kernel's connection file: no request to this server (or any other) to ask for it.
    server = kernel.serverapp.connection_url
    assert server.endswith("/a%40b/") and f"# as MCP tools: {server}{route} " in printed
    assert f"curl -X POST {server}notebook-actions/api/kernels/{kernel.id}/actions/ping" in printed
    assert 'token ${JUPYTER_TOKEN}"' in printed
    assert f"api/kernels/{kernel.id}" not in caplog.text
    config = json.loads(printed[printed.index('{\n  "mcpServers"') :])
    entry = config["mcpServers"]["notebook"]
    assert entry["url"].endswith(route)
    assert entry["headers"] == {"Authorization": "Bearer ${JUPYTER_TOKEN}"}
    printed = "".join(
        str(o.get("text", "")) for o in await kernel.run('print(mcp_config("x", notebook="a b/c.ipynb"))')
    )
    assert json.loads(printed)["mcpServers"]["x"]["url"].endswith("notebook-actions/mcp/notebooks/a%20b/c.ipynb")


@server_test
async def test_a_restart_says_the_tools_changed(
    mcp_url: str, bearer: dict[str, str], kernel: Kernel, jp_fetch: Any
) -> None:
    seen = Seen()
    async with connect(mcp_url, bearer, seen) as session:
        assert (await session.call_tool("add", {"a": 1})).structured_content == {"result": 3}
        await seen.get_stream_open.wait()
        await jp_fetch("api", "kernels", kernel.id, "restart", method="POST", body="")
        await asyncio.wait_for(seen.list_changed.wait(), 30)
        with pytest.raises(MCPError, match="%load_ext notebook_actions"):
            await session.list_tools()
        await kernel.run("%load_ext notebook_actions")
        await kernel.run(CRAWL)
        assert [tool.name for tool in (await session.list_tools()).tools] == ["crawl", "crawl_seen"]


def test_sessions_are_forgotten_as_the_sdk_forgets_them() -> None:
    """No memory held for sessions that ended without a DELETE: idle, and no stream open."""
    watchers = Watchers(idle_seconds=-1)  # every session is past its idle time at once
    session = cast("Any", object())
    watchers.watch("streaming", "k", session)
    watchers.stream_opened("streaming")
    watchers.watch("idle", "k", session)
    watchers.watch("new", "k", session)  # prunes "idle", keeps the one with a stream open
    assert len(watchers) == 2
    watchers.stream_closed("streaming")
    watchers.watch("newer", "k", session)
    assert len(watchers) == 1


@server_test
async def test_a_cell_is_announced_once_however_many_functions_it_defines(kernel: Kernel) -> None:
    bridge = kernel.serverapp.web_app.settings["notebook_actions"].bridges.get(kernel.id)
    await bridge.ready(30)
    announced: list[None] = []
    bridge.on_actions_changed.append(lambda: announced.append(None))
    await kernel.run("%%use_server\ndef one() -> int:\n    return 1\ndef two() -> int:\n    return 2\n")
    # the kernel answers in order: once the list comes back, any announcement has come too
    reply, _ = await bridge.request({"kind": "list"}).reply(30)
    assert {"one", "two"} <= {info["name"] for info in reply["actions"]}
    assert len(announced) == 1


ALLOWED = "https://inspector.example"


@pytest.mark.parametrize(
    "jp_server_config",
    [
        Config(
            {
                "ServerApp": {
                    "jpserver_extensions": {"notebook_actions": True},
                    "allow_origin_pat": r"https://inspector\.example",
                }
            }
        )
    ],
)
@server_test
async def test_an_allowed_origin_gets_through_with_its_preflight(mcp_url: str, bearer: dict[str, str]) -> None:
    preflight = {
        "Origin": ALLOWED,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, mcp-session-id, mcp-protocol-version",
    }
    async with httpx2.AsyncClient() as http:
        r = await http.options(mcp_url, headers=preflight)
        assert r.status_code == 200, r.text
        assert r.headers["access-control-allow-origin"] == ALLOWED
        assert "mcp-session-id" in r.headers["access-control-allow-headers"]
        r = await http.options(mcp_url, headers={**preflight, "Origin": "https://evil.example"})
        assert r.status_code == 403
        r = await http.post(mcp_url, json=INIT, headers={"Accept": BOTH, "Origin": ALLOWED, **bearer})
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == ALLOWED
        assert r.headers["access-control-expose-headers"] == "Mcp-Session-Id"
        assert r.headers["mcp-session-id"]


@server_test
async def test_a_session_lives_at_its_url_and_bad_input_harms_no_one(
    base: str, mcp_url: str, bearer: dict[str, str], bare_kernel: Kernel
) -> None:
    headers = {"Accept": BOTH, **bearer}
    async with connect(mcp_url, bearer) as session, httpx2.AsyncClient() as http:
        r = await http.post(mcp_url, json=INIT, headers=headers)
        own = {**headers, "Mcp-Session-Id": r.headers["mcp-session-id"], "MCP-Protocol-Version": "2025-11-25"}
        ping = {"jsonrpc": "2.0", "id": 5, "method": "ping"}
        assert (await http.post(mcp_url, json=ping, headers=own)).status_code == 200
        # the same session id at another kernel's URL is unknown there
        r = await http.post(f"{base}/kernels/{bare_kernel.id}", json=ping, headers=own)
        assert r.status_code == 404
        r = await http.post(mcp_url, json=ping, headers={**own, "Mcp-Session-Id": "made-up"})
        assert r.status_code == 404
        r = await http.post(mcp_url, content=b"{not json", headers={**own, "Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["error"]["code"] == -32700
        # the other session goes on
        assert (await session.call_tool("add", {"a": 1})).structured_content == {"result": 3}
