"""A served notebook whose gateway refuses the kernel websocket (the token is wrong for it):
the prime fails with the connection's message in the status, and the pool keeps trying.

The server's REST calls go to one real Kernel Gateway with the right token, its websockets
(``GatewayClient.ws_url``) to a second one whose token differs: kernels start, and only
connecting to them is refused, as when a gateway's websocket wants another token."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from notebook_actions.server.serving import _pool

from ._gateways import KG_VENV, Gateway, _executable, gateway_argv, start_gateway
from .conftest import body, server_test
from .test_serve import APP, Fetch, Served, call, notebook_actions_config, served, states, wait_for  # noqa: F401


@pytest.fixture
def gateways(jp_environ: Any, tmp_path: Path) -> Iterator[tuple[Gateway, Gateway]]:
    argv = [str(_executable(KG_VENV, "jupyter-kernelgateway"))]
    rest_dir, other_dir = tmp_path / "rest", tmp_path / "other"
    rest_dir.mkdir()
    other_dir.mkdir()
    running = contextmanager(start_gateway)
    with running(argv, rest_dir, "kernel-gateway") as rest, running(argv, other_dir, "kernel-gateway") as other:
        yield rest, other


@pytest.fixture
def jp_argv(gateways: tuple[Gateway, Gateway]) -> list[str]:
    rest, other = gateways
    return [*gateway_argv(rest), f"--GatewayClient.ws_url={other.url.replace('http', 'ws', 1)}"]


@pytest.fixture
def pool_on_gateway(
    request: pytest.FixtureRequest, jp_serverapp: Any, jp_asyncio_loop: asyncio.AbstractEventLoop
) -> Iterator[None]:
    """Stops the pool and its kernels while the gateways still run (they stop first)."""
    request.getfixturevalue("gateways")
    yield
    extension = jp_serverapp.web_app.settings["notebook_actions"]

    async def stop() -> None:
        await extension.serving.stop()
        await jp_serverapp.kernel_manager.shutdown_all()

    jp_asyncio_loop.run_until_complete(stop())


@pytest.mark.parametrize("served", [Served(kernels=1, options={"timeout": 5})])
@server_test
async def test_a_refused_websocket_fails_the_prime_with_what_to_configure(
    jp_fetch: Fetch, pool_on_gateway: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_pool, "RETRY_FIRST_SECONDS", 0.2)
    # Retried with backoff, like any failed prime: the pool's task lives on.
    now = await wait_for(jp_fetch, lambda now: now[APP]["kernels"][0].get("failure", {}).get("attempts", 0) >= 2)
    assert states(now) == ["failed"]
    message = now[APP]["kernels"][0]["failure"]["message"]
    assert "could not connect to the kernel" in message and "refused" in message
    assert "--GatewayClient.auth_token" in message
    response = await call(jp_fetch, "pid")
    assert response.code == 503 and "--GatewayClient.auth_token" in body(response)["message"]
