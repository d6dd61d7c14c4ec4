"""Real kernel gateways on loopback, each from its own venv (``make gateways`` builds them):
Jupyter Kernel Gateway (``.venv-kg``, jupyter-server 2) and Jupyter Enterprise Gateway
(``.venv-eg``, jupyter-server 1), both with an auth token, their kernels from the
kernelspec ``make gateways`` puts in their venv, which runs this project's .venv Python
(so kernels have notebook_actions).

Fixtures for test modules (import them): ``kernel_gateway``, ``legacy_kernel_gateway``
(the legacy websocket protocol) and ``enterprise_gateway`` start one gateway for the
test and stop it (with its kernels) after; ``gateway_argv(gw)``
is the jupyter server's command line for it (``--gateway-url``, the token), for a
module's ``jp_argv``; ``remote_kernel`` is a kernel started through the server on the
gateway, with the test actions exported (run by nbclient through the server's kernel
manager, as priming a served notebook does).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_server.gateway.gateway_client import GatewayClient
from nbclient import NotebookClient

from notebook_actions.server.kernels._gateway_ws import V1

from .conftest import ACTIONS, Kernel, body

ROOT = Path(__file__).resolve().parents[2]
KG_VENV = ROOT / ".venv-kg"
EG_VENV = ROOT / ".venv-eg"


@dataclass
class Gateway:
    url: str
    token: str
    log: Path
    #: the kernel websocket subprotocol it picks when offered v1 (None: the legacy protocol)
    protocol: str | None = V1


def gateway_argv(gateway: Gateway) -> list[str]:
    """A jupyter server's options for talking to ``gateway``."""
    return [f"--gateway-url={gateway.url}", f"--GatewayClient.auth_token={gateway.token}"]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _executable(venv: Path, name: str) -> Path:
    path = venv / "bin" / name
    if not path.exists():
        message = f"{path} is missing: `make gateways` builds the gateways' venvs (`make test` does too)"
        pytest.fail(message)
    return path


def _answers(url: str, token: str) -> bool:
    request = urllib.request.Request(f"{url}/api/kernelspecs", headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.HTTPError):
        return False


def start_gateway(
    argv: list[str], tmp_path: Path, name: str, protocol: str | None = V1, ip: str = "127.0.0.1", port: int = 0
) -> Iterator[Gateway]:
    """Run a gateway (``argv`` without ip, port, token) on a free loopback port (or on ``ip``
    and ``port``, for ``argv`` that runs it in a network namespace) until the generator closes."""
    GatewayClient.clear_instance()  # a singleton: earlier servers left one behind
    port = port or free_port()
    token = secrets.token_hex(16)
    # pytest-jupyter puts this venv's sys.path in PYTHONPATH (the gateway's venv has its
    # own), and its own directories in JUPYTER_PATH (kernelspecs come from the gateway's
    # venv, whose python3 runs .venv's Python: see the Makefile).
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "JUPYTER_PATH")}
    env |= {
        "JUPYTER_DATA_DIR": str(tmp_path / f"{name}-data"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / f"{name}-runtime"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / f"{name}-config"),
    }
    log_path = tmp_path / f"{name}.log"
    url = f"http://{ip}:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*argv, f"--ip={ip}", f"--port={port}", "--port_retries=0", *_token_options(name, token)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            env=env,
        )
        try:
            deadline = time.monotonic() + 90
            while not _answers(url, token):
                if process.poll() is not None or time.monotonic() > deadline:
                    message = f"{name} did not start:\n{log_path.read_text()}"
                    raise RuntimeError(message)
                time.sleep(0.2)
            yield Gateway(url, token, log_path, protocol)
        finally:
            process.terminate()  # the gateway shuts its kernels down as it stops
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            GatewayClient.clear_instance()


def _token_options(name: str, token: str) -> list[str]:
    app = "EnterpriseGatewayApp" if name == "enterprise-gateway" else "KernelGatewayApp"
    return [f"--{app}.auth_token={token}"]


@pytest.fixture
def kernel_gateway(jp_environ: Any, tmp_path: Path) -> Iterator[Gateway]:
    """Jupyter Kernel Gateway 3 (jupyter-server 2: the v1 websocket protocol), with a token."""
    argv = [str(_executable(KG_VENV, "jupyter-kernelgateway"))]
    yield from start_gateway(argv, tmp_path, "kernel-gateway")


@pytest.fixture
def legacy_kernel_gateway(jp_environ: Any, tmp_path: Path) -> Iterator[Gateway]:
    """Kernel Gateway told to prefer the legacy websocket protocol, as gateways before
    jupyter-server 2 speak it: JSON text frames, and binary frames only for buffers."""
    argv = [str(_executable(KG_VENV, "jupyter-kernelgateway")), "--ZMQChannelsWebsocketConnection.kernel_ws_protocol="]
    yield from start_gateway(argv, tmp_path, "kernel-gateway", protocol=None)


@pytest.fixture
def enterprise_gateway(jp_environ: Any, tmp_path: Path) -> Iterator[Gateway]:
    """Jupyter Enterprise Gateway 3.3 (jupyter-server 1: the legacy websocket protocol), with a token.

    It refuses to start kernels for root unless ``unauthorized_users`` leaves root out.
    """
    argv = [str(_executable(EG_VENV, "jupyter-enterprisegateway")), "--EnterpriseGatewayApp.unauthorized_users=set()"]
    yield from start_gateway(argv, tmp_path, "enterprise-gateway")


async def run_cells(serverapp: Any, kernel_id: str, *sources: str, timeout: float = 60) -> Any:
    """Execute ``sources`` as a notebook's cells with nbclient, through the server's kernel manager."""
    manager = serverapp.kernel_manager.get_kernel(kernel_id)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in sources])
    client = NotebookClient(nb, km=manager, timeout=timeout, startup_timeout=timeout)
    try:
        return await client.async_execute()
    finally:
        if client.kc is not None:  # nbclient leaves a client it did not make the manager for open
            client.kc.stop_channels()


@pytest.fixture
def remote_kernel(jp_fetch: Any, jp_serverapp: Any, jp_asyncio_loop: Any) -> Iterator[Kernel]:
    """A kernel on the gateway, started through the server, with the test actions exported."""

    async def start() -> str:
        r = await jp_fetch("api", "kernels", method="POST", body=json.dumps({"name": "python3"}))
        kid: str = body(r)["id"]
        await run_cells(jp_serverapp, kid, "%load_ext notebook_actions", ACTIONS)
        return kid

    async def stop() -> None:
        if kid in jp_serverapp.kernel_manager:
            await jp_fetch("api", "kernels", kid, method="DELETE")

    kid = jp_asyncio_loop.run_until_complete(start())
    yield Kernel(kid, jp_serverapp, jp_asyncio_loop)
    jp_asyncio_loop.run_until_complete(stop())  # before the gateway stops
