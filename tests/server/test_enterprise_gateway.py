"""Jupyter Enterprise Gateway 3.3 with an auth token, behind a real jupyter server's
--gateway-url: what is particular to it. (Actions, uploads, bytes and streams through
it are in test_gateway.py, run against every gateway.)"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from jupyter_server.gateway.gateway_client import GatewayClient
from nbclient.exceptions import CellExecutionError

from ._gateways import Gateway, free_port, gateway_argv, run_cells
from .conftest import Kernel, body, invoke, server_test


@pytest.fixture
def jp_argv(enterprise_gateway: Gateway) -> list[str]:
    return gateway_argv(enterprise_gateway)


@pytest.fixture
def eg_kernel(jp_serverapp: Any, jp_asyncio_loop: asyncio.AbstractEventLoop) -> Any:
    """A bare kernel on the gateway, started through the server's kernel manager."""
    manager = jp_serverapp.kernel_manager
    kid = jp_asyncio_loop.run_until_complete(manager.start_kernel(kernel_name="python3"))
    yield kid

    async def stop() -> None:  # before the gateway stops
        if kid in manager:
            await manager.shutdown_kernel(kid, now=True)

    jp_asyncio_loop.run_until_complete(stop())


@server_test
async def test_nbclient_executes_a_notebook_on_a_token_protected_kernel(jp_serverapp: Any, eg_kernel: str) -> None:
    # nbclient asks the server's kernel manager for a client, as priming a served notebook does
    nb = await run_cells(jp_serverapp, eg_kernel, "x = 6 * 7", "print(x)", "import os; os.getpid()")
    assert nb.cells[1].outputs[0]["text"] == "42\n"
    assert nb.cells[2].outputs[0]["data"]["text/plain"].isdigit()
    # a cell that raises fails the run, with the kernel's error
    with pytest.raises(CellExecutionError, match="ZeroDivisionError"):
        await run_cells(jp_serverapp, eg_kernel, "1 / 0")
    # the kernel lives on: the state of the first run is still there
    nb = await run_cells(jp_serverapp, eg_kernel, "print(x + 1)")
    assert nb.cells[0].outputs[0]["text"] == "43\n"


@server_test
async def test_a_kernel_client_with_a_wrong_token_says_so(jp_serverapp: Any, eg_kernel: str) -> None:
    gateway = GatewayClient.instance()
    right = gateway.auth_token
    gateway.auth_token = "not-the-token"
    try:
        client = jp_serverapp.kernel_manager.get_kernel(eg_kernel).client()
        with pytest.raises(RuntimeError, match=r"401.*--GatewayClient\.auth_token"):
            await asyncio.wait_for(client.start_channels(), 30)
    finally:
        gateway.auth_token = right
    nb = await run_cells(jp_serverapp, eg_kernel, "print('still here')")
    assert nb.cells[0].outputs[0]["text"] == "still here\n"


@server_test
async def test_a_wrong_or_missing_token_is_answered_clearly(jp_fetch: Any, remote_kernel: Kernel) -> None:
    # the token the gateway was started with changed, or this server was never given it
    gateway = GatewayClient.instance()
    right = gateway.auth_token
    try:
        for token in ("not-the-token", ""):
            gateway.auth_token = token
            for r in (
                await asyncio.wait_for(invoke(jp_fetch, remote_kernel, "add", {"a": 1}), 30),
                await asyncio.wait_for(jp_fetch(*remote_kernel.url("actions"), raise_error=False), 30),
            ):
                assert r.code == 502
                message = body(r)["message"]
                assert "refused the connection" in message
                assert "401" in message
                assert "--GatewayClient.auth_token" in message
    finally:
        gateway.auth_token = right
    # with the right token again, the next request connects
    assert body(await invoke(jp_fetch, remote_kernel, "add", {"a": 1})) == {"value": 3}


@server_test
async def test_a_gateway_that_cannot_be_reached_is_answered_503(jp_fetch: Any, remote_kernel: Kernel) -> None:
    gateway = GatewayClient.instance()
    right = gateway.ws_url
    gateway.ws_url = f"ws://127.0.0.1:{free_port()}"  # nothing listens there
    try:
        r = await asyncio.wait_for(invoke(jp_fetch, remote_kernel, "add", {"a": 1}), 30)
        assert r.code == 503
        assert "could not reach the kernel gateway" in body(r)["message"]
    finally:
        gateway.ws_url = right
    assert body(await invoke(jp_fetch, remote_kernel, "add", {"a": 1})) == {"value": 3}
