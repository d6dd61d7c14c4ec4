"""Every answer under ``{base_url}notebook-actions/`` is JSON that says what to do: a URL no
route takes (a malformed kernel id, a trailing slash, a typo) and a method a route does not
take, not Jupyter's HTML 404 page, its "403: Forbidden" or a bare "Method Not Allowed"."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlparse

import pytest

from .conftest import Kernel, server_test


async def curl(method: str, url: str, *args: str) -> tuple[int, dict[str, str], Any]:
    """curl as a user types it: the status, the headers and the JSON body."""
    process = await asyncio.create_subprocess_exec(
        "curl", "-sS", "-X", method, "-D", "-", "-w", "\n%{http_code}", *args, url, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    text, _, code = out.decode().rpartition("\n")
    head, _, content = text.partition("\r\n\r\n")
    headers = {}
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    assert headers.get("content-type", "").startswith("application/json"), text
    return int(code), headers, json.loads(content)


@pytest.fixture
def api(http_server: Any, jp_http_port: int, jp_base_url: str) -> str:
    return f"http://127.0.0.1:{jp_http_port}{jp_base_url}notebook-actions/api"


@pytest.fixture
def token(jp_auth_header: dict[str, str]) -> list[str]:
    return ["-H", f"Authorization: {jp_auth_header['Authorization']}"]


@server_test
async def test_a_malformed_kernel_id_is_a_json_404_saying_what_a_kernel_id_is(api: str, token: list[str]) -> None:
    for url in (
        f"{api}/kernels/abc/actions",
        f"{api}/kernels/abc/actions/add",
        api.replace("/api", "/mcp/kernels/abc"),
    ):
        code, _, answer = await curl("GET", url, *token)
        assert code == 404, url
        assert "'abc' is not a kernel id" in answer["message"] and "/api/kernels lists" in answer["message"]


@server_test
async def test_a_trailing_slash_is_a_json_404_naming_the_url_without_it(
    api: str, token: list[str], kernel: Kernel
) -> None:
    action = f"{api}/kernels/{kernel.id}/actions/add"
    for method, args in (("POST", ["-H", "Content-Type: application/json", "-d", '{"a": 1}']), ("GET", [])):
        code, _, answer = await curl(method, f"{action}/", *token, *args)
        assert code == 404, method
        assert answer["message"].endswith(f"drop the trailing slash: {urlparse(action).path}")


@server_test
async def test_an_unknown_route_lists_the_routes_even_without_a_token(api: str) -> None:
    code, _, answer = await curl("GET", f"{api}/kernel/x")
    assert code == 404
    assert "no route" in answer["message"] and "/notebook-actions/api/status" in answer["message"]


@server_test
async def test_a_method_a_route_does_not_take_is_a_json_405_with_allow(
    api: str, token: list[str], kernel: Kernel
) -> None:
    code, headers, answer = await curl("GET", f"{api}/kernels/{kernel.id}/actions/add", *token)
    assert code == 405 and headers["allow"] == "POST"
    assert answer["message"].startswith("GET is not supported here: use POST")
    code, headers, answer = await curl("DELETE", f"{api}/kernels/{kernel.id}/actions", *token)
    assert code == 405 and headers["allow"] == "GET"
    assert answer["message"].startswith("DELETE is not supported here: use GET")
    code, headers, answer = await curl("PUT", api.replace("/api", f"/mcp/kernels/{kernel.id}"), *token)
    assert code == 405 and headers["allow"] == "GET, POST, DELETE"
    assert answer["error"]["message"].startswith("PUT is not supported here: use GET or POST or DELETE")
