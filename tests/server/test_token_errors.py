"""The commonest curl mistake, a missing or wrong token, is told to send the token (and
where to find it), on every route and for every method: not that an XSRF token is missing
(that is for a browser that is logged in) and not a bare "Forbidden"."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from .conftest import Kernel, server_test
from .test_mcp import INIT
from .test_security import cookie_header, login_cookies


async def curl(url: str, *args: str) -> tuple[int, Any]:
    """curl as a user types it: no cookie jar, only what the arguments say."""
    process = await asyncio.create_subprocess_exec(
        "curl", "-sS", "-w", "\n%{http_code}", *args, url, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    text, _, code = out.decode().rpartition("\n")
    return int(code), json.loads(text)


def routes(url: str, kernel: Kernel) -> dict[str, tuple[str, list[str]]]:
    """What a user curls: listing, OpenAPI, status and MCP with GET; an action with JSON and
    with curl's -d; MCP's initialize."""
    api, mcp = f"{url}notebook-actions/api", f"{url}notebook-actions/mcp/kernels/{kernel.id}"
    json_header = ["-H", "Content-Type: application/json"]
    return {
        "GET actions": (f"{api}/kernels/{kernel.id}/actions", []),
        "GET openapi": (f"{api}/kernels/{kernel.id}/openapi.json", []),
        "GET status": (f"{api}/status", []),
        "POST action (JSON)": (f"{api}/kernels/{kernel.id}/actions/add", [*json_header, "-d", '{"a": 1}']),
        "POST action (-d)": (f"{api}/kernels/{kernel.id}/actions/add", ["-d", "a=1"]),
        "POST MCP": (mcp, [*json_header, "-H", "Accept: application/json, text/event-stream", "-d", json.dumps(INIT)]),
        "GET MCP": (mcp, ["-H", "Accept: text/event-stream"]),
    }


def message(route: str, body: Any) -> str:
    text = body["error"]["message"] if "MCP" in route else body["message"]
    assert isinstance(text, str)
    return text


@pytest.fixture
def url(http_server: Any, jp_http_port: int, jp_base_url: str) -> str:
    return f"http://127.0.0.1:{jp_http_port}{jp_base_url}"


@server_test
async def test_a_missing_or_wrong_token_is_told_to_send_the_token(url: str, kernel: Kernel) -> None:
    bridges = kernel.serverapp.web_app.settings["notebook_actions"].bridges
    wrong = ["-H", "Authorization: token wrong"]
    for route, (target, args) in routes(url, kernel).items():
        for credential, said in (([], "no credential"), (wrong, "not this server's token")):
            code, body = await curl(target, *credential, *args)
            assert code == 403, (route, credential, body)
            text = message(route, body)
            scheme = "Bearer" if "MCP" in route else "token"
            assert said in text, (route, text)
            assert f"'Authorization: {scheme} <token>'" in text, (route, text)
            assert "jupyter server list" in text and "jupyter notebook-actions serve" in text, (route, text)
            assert "xsrf" not in text.lower(), (route, text)
    assert len(bridges) == 0  # nothing reached the kernel


@server_test
async def test_a_browser_logged_in_without_its_xsrf_token_is_told_about_xsrf(
    url: str, kernel: Kernel, jp_fetch: Any
) -> None:
    cookie = ["-H", f"Cookie: {cookie_header(await login_cookies(jp_fetch))}"]
    for route, (target, args) in routes(url, kernel).items():
        code, body = await curl(target, *cookie, *args)
        if route.startswith("POST"):
            assert code == 403, (route, body)
            assert "_xsrf" in message(route, body), route
        else:  # past authentication (MCP's GET wants a session: 400 says so)
            assert code == (400 if "MCP" in route else 200), (route, body)


@pytest.mark.parametrize(
    "jp_server_config",
    [{"ServerApp": {"jpserver_extensions": {"notebook_actions": True}, "allow_unauthenticated_access": False}}],
)
@server_test
async def test_the_same_when_unauthenticated_access_is_off(url: str, kernel: Kernel) -> None:
    for route, (target, args) in routes(url, kernel).items():
        code, body = await curl(target, *args)
        assert code == 403, (route, body)
        assert "the request carries no credential: send the server's token" in message(route, body), route
