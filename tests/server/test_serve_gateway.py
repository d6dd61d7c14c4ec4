"""A served notebook whose pool lives on a gateway (``--gateway-url``): each real,
token-protected gateway of test_gateway.py on loopback (Kernel Gateway with the v1 and the
legacy websocket protocol, Enterprise Gateway 3.3); the pool primes its kernels there
(nbclient through the server's kernel manager) in the notebook's folder, heals when one
dies, and answers MCP too."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_server.gateway.managers import GatewayMappingKernelManager

from ._gateways import EG_VENV, Gateway, _executable, start_gateway
from .conftest import body, server_test
from .test_gateway import gateway, jp_argv  # noqa: F401 (fixtures)
from .test_mcp import connect
from .test_serve import (  # noqa: F401 (fixtures)
    APP,
    LOAD,
    Fetch,
    Served,
    all_ready,
    app,
    call,
    cells,
    notebook_actions_config,
    served,
    wait_for,
)

READ = """
%%use_server
from pathlib import Path


def beside() -> str:
    return Path("data.txt").read_text()
"""


@pytest.fixture
def pool_on_gateway(
    request: pytest.FixtureRequest, jp_serverapp: Any, jp_asyncio_loop: asyncio.AbstractEventLoop
) -> Iterator[None]:
    """Stops the pool and its kernels while the gateway still runs (it stops first)."""
    request.getfixturevalue("gateway")  # set up before this fixture, so torn down after it
    yield
    extension = jp_serverapp.web_app.settings["notebook_actions"]

    async def stop() -> None:
        await extension.serving.stop()
        await jp_serverapp.kernel_manager.shutdown_all()

    jp_asyncio_loop.run_until_complete(stop())


@server_test
async def test_a_served_pool_primes_and_heals_on_the_gateway(
    jp_fetch: Fetch, jp_serverapp: Any, pool_on_gateway: None
) -> None:
    assert isinstance(jp_serverapp.kernel_manager, GatewayMappingKernelManager)
    now = await wait_for(jp_fetch, all_ready())
    assert all(k["id"] in jp_serverapp.kernel_manager for k in now[APP]["kernels"])
    pids = {body(await call(jp_fetch, "pid"))["value"] for _ in range(4)}
    assert len(pids) == 2
    response = await call(jp_fetch, "version")
    assert response.code == 200 and body(response) == {"value": "v1"}

    # The gateway restarts a killed kernel; the pool notices and primes it again.
    dead = min(pids)
    os.kill(dead, signal.SIGKILL)
    await wait_for(jp_fetch, lambda now: any(k["state"] != "ready" for k in now[APP]["kernels"]), timeout=60)
    await wait_for(jp_fetch, all_ready(), timeout=60)
    after = {body(await call(jp_fetch, "pid"))["value"] for _ in range(4)}
    assert len(after) == 2 and dead not in after


@pytest.mark.parametrize("served", [Served(notebooks={APP: [*app(), *cells(READ)]}, kernels=1)])
@server_test
async def test_a_served_notebook_on_the_gateway_runs_in_its_folder(
    jp_fetch: Fetch, jp_root_dir: Path, pool_on_gateway: None
) -> None:
    # Enterprise Gateway ignores KERNEL_WORKING_DIR (its kernels start in its own directory):
    # priming changes into the notebook's folder first, whatever the gateway.
    (jp_root_dir / "apps" / "data.txt").write_text("next to the notebook")
    await wait_for(jp_fetch, all_ready())
    assert body(await call(jp_fetch, "cwd")) == {"value": str(jp_root_dir / "apps")}
    response = await call(jp_fetch, "beside")
    assert response.code == 200 and body(response) == {"value": "next to the notebook"}


@server_test
async def test_mcp_answers_from_the_pool_on_the_gateway(
    jp_fetch: Fetch, jp_serverapp: Any, http_server: Any, jp_http_port: int, jp_base_url: str, pool_on_gateway: None
) -> None:
    await wait_for(jp_fetch, all_ready())
    url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}notebook-actions/mcp/notebooks/{APP}"
    bearer = {"Authorization": f"Bearer {jp_serverapp.identity_provider.token}"}
    async with connect(url, bearer) as session:
        assert {"pid", "version"} <= {tool.name for tool in (await session.list_tools()).tools}
        pids = {(await session.call_tool("pid", {})).structured_content["result"] for _ in range(4)}
        assert len(pids) == 2  # one after another, the pool's two kernels take turns
        assert (await session.call_tool("version", {})).structured_content == {"result": "v1"}


@pytest.fixture
def gateway_with_secrets(jp_environ: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    """Enterprise Gateway with two secrets in its environment (the server has them too), one
    of them passed on to its kernels (``EG_INHERITED_ENVS``), as docs/http.md says to."""
    monkeypatch.setenv("SHOP_KEY", "shop-SECRET")
    monkeypatch.setenv("OTHER_KEY", "other-SECRET")
    monkeypatch.setenv("EG_INHERITED_ENVS", "SHOP_KEY")
    argv = [str(_executable(EG_VENV, "jupyter-enterprisegateway")), "--EnterpriseGatewayApp.unauthorized_users=set()"]
    yield from start_gateway(argv, tmp_path, "enterprise-gateway")


def reads(variable: str) -> list[str]:
    return cells(
        LOAD, f"%%use_server\nimport os\n\nKEY = os.environ[{variable!r}]\n\ndef key() -> str:\n    return KEY"
    )


@pytest.mark.parametrize("gateway", ["gateway_with_secrets"], indirect=True)
@pytest.mark.parametrize(
    "served", [Served(notebooks={"shop.ipynb": reads("SHOP_KEY"), "other.ipynb": reads("OTHER_KEY")}, kernels=1)]
)
@server_test
async def test_a_kernel_on_the_gateway_sees_only_the_environment_the_gateway_passes(
    jp_fetch: Fetch, pool_on_gateway: None
) -> None:
    now = await wait_for(
        jp_fetch, lambda now: all(n["kernels"][0]["state"] in ("ready", "failed") for n in now.values())
    )
    assert now["shop.ipynb"]["kernels"][0]["state"] == "ready"
    assert body(await call(jp_fetch, "key", path="shop.ipynb")) == {"value": "shop-SECRET"}
    # In the server's environment and the gateway's, but not passed on: the prime says what the cell raised.
    failure = now["other.ipynb"]["kernels"][0]["failure"]
    assert failure["type"] == "KeyError" and failure["cell"] == 2


@pytest.mark.parametrize("gateway", ["kernel_gateway"], indirect=True)
@server_test
async def test_a_gateway_kernel_that_stops_answering_fails_its_requests_and_is_replaced(
    jp_fetch: Fetch, pool_on_gateway: None, tmp_path: Path
) -> None:
    # The gateway keeps a stopped kernel (its process is alive) and its websocket open, as
    # it does a kernel whose host vanished: only the pool's own probe notices.
    await wait_for(jp_fetch, all_ready())
    pids = {body(await call(jp_fetch, "pid"))["value"] for _ in range(2)}
    flag = tmp_path / "go"
    held = [asyncio.ensure_future(call(jp_fetch, "hold", {"flag": str(flag)})) for _ in range(2)]
    await wait_for(jp_fetch, lambda now: all(k["in_flight"] == 1 for k in now[APP]["kernels"]))
    stopped = min(pids)
    os.kill(stopped, signal.SIGSTOP)
    try:
        now = await wait_for(jp_fetch, lambda now: any(k["state"] != "ready" for k in now[APP]["kernels"]), timeout=40)
        assert "stopped answering" in str(now)
        flag.touch()
        answers = sorted((r.code, body(r).get("value")) for r in await asyncio.gather(*held))
        assert [code for code, _ in answers] == [200, 503] and answers[0][1] != stopped
        await wait_for(jp_fetch, all_ready(), timeout=90)
        after = {body(await call(jp_fetch, "pid"))["value"] for _ in range(2)}
        assert len(after) == 2 and stopped not in after
    finally:
        os.kill(stopped, signal.SIGKILL)
