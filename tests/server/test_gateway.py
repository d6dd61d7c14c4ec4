"""A remote kernel behind --gateway-url: a real Jupyter Kernel Gateway on loopback, and a
jupyter server pointed at it; the bridge reaches the kernel through the server's
gateway client only."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_server.gateway.gateway_client import GatewayClient

from .conftest import ACTIONS, Kernel, body, invoke, multipart, server_test

SSE = {"Accept": "text/event-stream"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def gateway(jp_environ: Any, tmp_path: Path) -> Iterator[str]:
    """``jupyter kernelgateway`` on a free loopback port; stopped (with its kernels) after."""
    GatewayClient.clear_instance()  # a singleton: earlier servers left one without a URL
    port = free_port()
    log = (tmp_path / "gateway.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kernel_gateway",
            "--KernelGatewayApp.ip=127.0.0.1",
            f"--KernelGatewayApp.port={port}",
            "--KernelGatewayApp.port_retries=0",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((tmp_path / "gateway.log").read_text()) from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        GatewayClient.clear_instance()


@pytest.fixture
def jp_argv(gateway: str) -> list[str]:
    return [f"--gateway-url={gateway}"]


async def execute(jp_ws_fetch: Any, kernel_id: str, code: str) -> None:
    """Run test code the way JupyterLab does: over the kernel's websocket (proxied to the gateway)."""
    ws = await jp_ws_fetch("api", "kernels", kernel_id, "channels", params={"session_id": "test"})
    try:
        msg_id = uuid.uuid4().hex
        ws.write_message(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "msg_type": "execute_request",
                        "username": "",
                        "session": "test",
                        "version": "5.3",
                        "date": "",
                    },
                    "parent_header": {},
                    "metadata": {},
                    "channel": "shell",
                    "buffers": [],
                    "content": {
                        "code": code,
                        "silent": False,
                        "store_history": False,
                        "user_expressions": {},
                        "allow_stdin": False,
                        "stop_on_error": True,
                    },
                }
            )
        )
        while True:
            message = await asyncio.wait_for(ws.read_message(), 60)
            assert message is not None, "the websocket closed"
            reply = json.loads(message)
            if reply["msg_type"] == "execute_reply" and reply["parent_header"].get("msg_id") == msg_id:
                assert reply["content"]["status"] == "ok", reply["content"]
                return
    finally:
        ws.close()


@pytest.fixture
def remote_kernel(jp_fetch: Any, jp_ws_fetch: Any, jp_serverapp: Any, jp_asyncio_loop: Any) -> Iterator[Kernel]:
    async def start() -> str:
        r = await jp_fetch("api", "kernels", method="POST", body=json.dumps({"name": "python3"}))
        kid: str = body(r)["id"]
        await execute(jp_ws_fetch, kid, "%load_ext notebook_actions")
        await execute(jp_ws_fetch, kid, ACTIONS)
        return kid

    kid = jp_asyncio_loop.run_until_complete(start())
    yield Kernel(kid, jp_serverapp, jp_asyncio_loop)
    if kid in jp_serverapp.kernel_manager:
        jp_asyncio_loop.run_until_complete(jp_fetch("api", "kernels", kid, method="DELETE"))
    # the bridges' gateway connections close on threads of their own: wait for them
    for thread in threading.enumerate():
        if thread.name == "notebook-actions-gateway-stop":
            thread.join(10)


@server_test
async def test_actions_of_a_kernel_behind_a_gateway(
    jp_fetch: Any, jp_serverapp: Any, remote_kernel: Kernel, gateway: str
) -> None:
    assert jp_serverapp.gateway_config.gateway_enabled
    assert jp_serverapp.gateway_config.url == gateway
    # listing and OpenAPI
    names = [a["name"] for a in body(await jp_fetch(*remote_kernel.url("actions")))["actions"]]
    assert "add" in names
    assert "/actions/add" in "".join(body(await jp_fetch(*remote_kernel.url("openapi.json")))["paths"])
    # JSON, urlencoded, validation, errors, streams
    assert body(await invoke(jp_fetch, remote_kernel, "add", {"a": 40})) == {"value": 42}
    r = await jp_fetch(
        *remote_kernel.url("actions", "echo"),
        method="POST",
        body="text=hi&times=2",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert body(r)["value"]["times"] == 2
    assert (await invoke(jp_fetch, remote_kernel, "add", {"a": "x"})).code == 422
    r = await invoke(jp_fetch, remote_kernel, "fail", {})
    assert r.code == 500
    assert body(r)["type"] == "ValueError"
    assert (await invoke(jp_fetch, remote_kernel, "nope")).code == 404
    r = await invoke(jp_fetch, remote_kernel, "ticks", {"n": 2}, headers=SSE)
    assert r.body.count(b"event: chunk") == 2
    assert body(await invoke(jp_fetch, remote_kernel, "count", {"n": 3})) == {"value": [0, 1, 2]}
    # concurrent requests share the one bridge
    results = await asyncio.gather(*(invoke(jp_fetch, remote_kernel, "add", {"a": i, "b": i}) for i in range(20)))
    assert [body(r)["value"] for r in results] == [2 * i for i in range(20)]
    bridges = jp_serverapp.web_app.settings["notebook_actions"].bridges
    assert len(bridges) == 1


@server_test
async def test_gateway_limits_and_shutdown(jp_fetch: Any, jp_serverapp: Any, remote_kernel: Kernel) -> None:
    # jupyter-server's gateway client carries JSON only: files cannot travel, and say so
    payload, headers = multipart([], [("file", "a.bin", "application/octet-stream", b"data")])
    r = await jp_fetch(
        *remote_kernel.url("actions", "digest"), method="POST", body=payload, headers=headers, raise_error=False
    )
    assert r.code == 501
    assert "gateway" in body(r)["message"]
    assert body(await invoke(jp_fetch, remote_kernel, "add", {"a": 1})) == {"value": 3}
    # a bytes result makes the gateway client drop its connection: answered, and the
    # next request connects again
    r = await invoke(jp_fetch, remote_kernel, "raw", {"n": 1})
    assert r.code == 503
    assert "binary" in body(r)["message"]
    assert body(await invoke(jp_fetch, remote_kernel, "add", {"a": 1})) == {"value": 3}
    # a request in flight when the kernel is shut down is answered
    task = asyncio.ensure_future(invoke(jp_fetch, remote_kernel, "nap", {"seconds": 60}))
    await asyncio.sleep(1)
    await jp_fetch("api", "kernels", remote_kernel.id, method="DELETE")
    r = await asyncio.wait_for(task, 30)
    assert r.code == 503
    assert remote_kernel.id not in jp_serverapp.web_app.settings["notebook_actions"].bridges
