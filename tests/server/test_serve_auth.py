"""What ``serve``'s token reaches: notebook-actions' routes, and none of Jupyter's own APIs
(with them, the token would start kernels and run any code) unless ``--jupyter-api``; and
what a request without the token is told, on a real ``jupyter notebook-actions serve``."""

from __future__ import annotations

import base64
import http.client
import json
import secrets
import subprocess
from collections.abc import Callable
from typing import Any

import requests

from notebook_actions.server import NotebookActions
from notebook_actions.server.http._authorizer import ServeAuthorizer
from tests.e2e._servers import BIN

from .conftest import server_test
from .test_serve_cli import TODO, Serve, ready, serve  # noqa: F401 (fixture)

COMMAND = f"jupyter notebook-actions serve {TODO}"
#: jupyter-server's terminals extension, which serve does not load unless told
TERMINALS = ("--ServerApp.jpserver_extensions", "jupyter_server_terminals=True")
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
}
MCP_ACCEPT = "application/json, text/event-stream"


def request(server: Serve, method: str, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
    """One request as curl sends it: no cookie jar, the token as ``Authorization: token``."""
    token = server.token if token is None else token
    headers = {"Authorization": f"token {token}"} if token else {}
    return requests.request(
        method, server.url + path, headers={**headers, **kwargs.pop("headers", {})}, timeout=30, **kwargs
    )


def jupyter_apis(server: Serve) -> dict[str, requests.Response]:
    """What a token holder would do with Jupyter's APIs: start a kernel, read files, ..."""
    return {
        "POST /api/kernels": request(server, "POST", "api/kernels", json={"name": "python3"}),
        "GET /api/kernels": request(server, "GET", "api/kernels"),
        "GET /api/contents": request(server, "GET", "api/contents"),
        "GET /api/contents/{notebook}": request(server, "GET", f"api/contents/{TODO}"),
        "GET /files/{notebook}": request(server, "GET", f"files/{TODO}"),
        "GET /api/sessions": request(server, "GET", "api/sessions"),
        "GET /api/kernelspecs": request(server, "GET", "api/kernelspecs"),
        "GET /api/terminals": request(server, "GET", "api/terminals"),
        "POST /api/terminals": request(server, "POST", "api/terminals"),
    }


def kernel_websocket(server: Serve, kernel_id: str) -> int:
    """The status of a websocket handshake for a pool kernel's channels (101: it opened)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request(
            "GET",
            f"{server.base_url}api/kernels/{kernel_id}/channels",
            headers={
                "Authorization": f"token {server.token}",
                "Connection": "Upgrade",
                "Upgrade": "websocket",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": base64.b64encode(secrets.token_bytes(16)).decode(),
            },
        )
        response = connection.getresponse()
        if response.status != 101:
            assert "--jupyter-api" in json.loads(response.read())["message"]
        return response.status
    finally:
        connection.close()


def notebook_actions_work(server: Serve) -> None:
    """The token reaches every notebook-actions route: actions, listing, OpenAPI, MCP, status."""
    route = f"notebook-actions/api/notebooks/{TODO}"
    r = request(server, "POST", f"{route}/actions/add_todo", json={"title": "Water the plants"})
    assert r.status_code == 200, r.text
    assert {a["name"] for a in request(server, "GET", f"{route}/actions").json()["actions"]} == {
        "add_todo",
        "list_todos",
    }
    assert "/add_todo" in str(request(server, "GET", f"{route}/openapi.json").json()["paths"])
    r = request(server, "POST", f"notebook-actions/mcp/notebooks/{TODO}", json=INIT, headers={"Accept": MCP_ACCEPT})
    assert r.status_code == 200 and r.headers["mcp-session-id"], r.text
    assert request(server, "GET", "notebook-actions/api/status").status_code == 200


def test_serves_token_reaches_only_notebook_actions(serve: Callable[..., Serve]) -> None:  # noqa: F811
    server = serve(COMMAND, *TERMINALS)
    now = server.wait_for(ready(TODO, 1))
    for name, r in jupyter_apis(server).items():
        assert r.status_code == 403, (name, r.text)
        assert r.headers["Content-Type"].startswith("application/json"), name
        message = r.json()["message"]
        assert "off on a `jupyter notebook-actions serve` server" in message, (name, message)
        assert "--jupyter-api (NotebookActions.serve_jupyter_api = True)" in message, (name, message)
    # the kernels of the pool are not reachable either (their ids are in every listing)
    assert kernel_websocket(server, now[TODO]["kernels"][0]["id"]) == 403
    assert [k["state"] for k in server.status()[TODO]["kernels"]] == ["ready"]  # no kernel started
    notebook_actions_work(server)


def test_jupyter_api_turns_jupyters_apis_on(serve: Callable[..., Serve]) -> None:  # noqa: F811
    server = serve(COMMAND, "--jupyter-api", *TERMINALS)
    now = server.wait_for(ready(TODO, 1))
    answers = jupyter_apis(server)
    for name, r in answers.items():
        assert r.status_code in (200, 201), (name, r.text)
    started = answers["POST /api/kernels"].json()["id"]
    assert started in {kernel["id"] for kernel in request(server, "GET", "api/kernels").json()}
    assert request(server, "DELETE", f"api/kernels/{started}").status_code == 204
    terminal = answers["POST /api/terminals"].json()["name"]
    assert request(server, "DELETE", f"api/terminals/{terminal}").status_code == 204
    assert kernel_websocket(server, now[TODO]["kernels"][0]["id"]) == 101
    notebook_actions_work(server)


def test_a_request_without_the_token_is_told_where_it_is(serve: Callable[..., Serve]) -> None:  # noqa: F811
    server = serve(COMMAND)
    server.wait_for(ready(TODO, 1))
    route, mcp = f"notebook-actions/api/notebooks/{TODO}", f"notebook-actions/mcp/notebooks/{TODO}"
    initialize = {"json": INIT, "headers": {"Accept": MCP_ACCEPT}}
    for token, said in (
        ("", "the request carries no credential"),
        ("wrong", "the token sent is not this server's token"),
    ):
        for method, path, kwargs, scheme in (
            ("GET", f"{route}/actions", {}, "token"),
            ("POST", f"{route}/actions/add_todo", {"data": {"title": "Milk"}}, "token"),  # curl -d
            ("POST", mcp, initialize, "Bearer"),
        ):
            r = request(server, method, path, token, **kwargs)
            assert r.status_code == 403, (path, r.text)
            message = r.json()["error"]["message"] if path == mcp else r.json()["message"]
            told = f"send the server's token, as the header 'Authorization: {scheme} <token>'"
            assert message.startswith(f"{said}: {told}"), (path, message)
    # and what the message says is so: `jupyter server list` shows the token
    listed = subprocess.run(
        [str(BIN / "jupyter"), "server", "list", "--json"], env=server.env, capture_output=True, text=True, timeout=60
    )
    assert server.token in [json.loads(line)["token"] for line in listed.stdout.splitlines()], listed


@server_test
async def test_another_jupyter_server_keeps_its_apis(jp_fetch: Any, jp_serverapp: Any) -> None:
    # A `jupyter lab` or `jupyter server` with the extension (here, pytest-jupyter's ServerApp)
    # keeps its authorizer and Jupyter's APIs, whatever serve_jupyter_api says.
    assert not isinstance(jp_serverapp.authorizer, ServeAuthorizer)
    assert not NotebookActions(parent=jp_serverapp).serve_jupyter_api
    for parts in (("api", "kernels"), ("api", "contents"), ("api", "sessions"), ("api", "kernelspecs")):
        assert (await jp_fetch(*parts)).code == 200, parts
