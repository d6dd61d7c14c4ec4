"""MCP for a client that keeps no cookies (the MCP Inspector, curl, most HTTP libraries
outside a browser): every request carries the token and nothing else, and jupyter-server
makes up a new anonymous user for each. The session is the token's."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import requests

from .conftest import server_test
from .test_mcp import BOTH, INIT, base, bearer, mcp_url, token  # noqa: F401 (fixtures)
from .test_security import cookie_header, login_cookies

VERSION = "2025-11-25"


def rpc(method: str, params: dict[str, Any] | None = None, id: int | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = params
    if id is not None:
        message["id"] = id
    return message


def answer(response: requests.Response) -> Any:
    """The JSON-RPC message of a JSON or server-sent-events response."""
    if response.headers.get("Content-Type", "").startswith("text/event-stream"):
        data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
        return json.loads(data[-1])
    return response.json()


async def post(url: str, message: dict[str, Any], headers: dict[str, str]) -> requests.Response:
    """One request as a cookie-less client sends it: plain ``requests.post``, no session,
    no cookie jar, only the headers given (in a thread: the server runs on this loop)."""
    response = await asyncio.to_thread(
        requests.post, url, json=message, headers={"Accept": BOTH, **headers}, timeout=60
    )
    assert response.request.headers.get("Cookie") == headers.get("Cookie")  # none but those given
    return response


async def opened(url: str, headers: dict[str, str]) -> dict[str, str]:
    """initialize and notifications/initialized: the headers of the session's requests."""
    r = await post(url, INIT, headers)
    assert r.status_code == 200, r.text
    session = {**headers, "Mcp-Session-Id": r.headers["mcp-session-id"], "MCP-Protocol-Version": VERSION}
    r = await post(url, rpc("notifications/initialized"), session)
    assert r.status_code == 202, r.text
    return session


@server_test
async def test_a_client_that_keeps_no_cookies_uses_its_session(
    mcp_url: str,  # noqa: F811
    bearer: dict[str, str],  # noqa: F811
    token: str,  # noqa: F811
) -> None:
    for headers in (bearer, {"Authorization": f"token {token}"}):
        session = await opened(mcp_url, headers)
        r = await post(mcp_url, rpc("tools/list", {}, 2), session)
        assert r.status_code == 200, r.text
        assert "add" in {tool["name"] for tool in answer(r)["result"]["tools"]}
        r = await post(mcp_url, rpc("tools/call", {"name": "add", "arguments": {"a": 2}}, 3), session)
        assert r.status_code == 200, r.text
        assert answer(r)["result"]["structuredContent"] == {"result": 4}


async def logged_in(jp_fetch: Any) -> dict[str, str]:
    """The headers of a browser that logged in (a user of its own): the login cookie, and
    the XSRF token that its POSTs carry."""
    cookies = await login_cookies(jp_fetch)
    return {"Authorization": "", "Cookie": cookie_header(cookies), "X-XSRFToken": cookies["_xsrf"]}


@server_test
async def test_another_credential_cannot_use_the_session(
    jp_fetch: Any,
    mcp_url: str,  # noqa: F811
    bearer: dict[str, str],  # noqa: F811
) -> None:
    ping = rpc("ping", {}, 9)
    by_token = await opened(mcp_url, bearer)
    alice, bob = [await logged_in(jp_fetch) for _ in range(2)]
    by_alice = await opened(mcp_url, alice)
    # a wrong token is no credential at all
    r = await post(mcp_url, ping, {**by_token, "Authorization": "Bearer wrong"})
    assert r.status_code == 403
    assert "not this server's token" in r.json()["error"]["message"]
    # a valid credential that did not open the session: the session does not exist for it
    for session, other in ((by_token, alice), (by_alice, bob), (by_alice, bearer)):
        r = await post(mcp_url, ping, {**session, **other})
        assert r.status_code == 404, r.text
        assert answer(r)["error"]["message"] == "Session not found"
    # each goes on with its own credential
    for session in (by_token, by_alice):
        r = await post(mcp_url, ping, session)
        assert r.status_code == 200, r.text
        assert answer(r)["result"] == {}
