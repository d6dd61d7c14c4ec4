"""A served pool on Enterprise Gateway's DistributedProcessProxy: kernels launched over SSH
on two hosts (network namespaces with a real sshd each, ``_hosts.py``), with EG's own
launcher from its sdist (``make gateways`` extracts it), least-connection. The pool of four
spreads two per host, and nothing of a request reaches the hosts' shell.

A lost host is not tested here yet: EG 3.3 then blocks its event loop in an SSH connect to
that host (see docs/beyond.md), stalling every kernel it serves.

The kernels run this worktree's code (the kernelspec's ``PYTHONPATH``)."""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ._gateways import EG_VENV, ROOT, Gateway, _executable, free_port, gateway_argv, start_gateway
from ._hosts import Hosts, make_hosts
from .conftest import JSON, body, server_test
from .test_serve import (  # noqa: F401 (fixtures)
    APP,
    LOAD,
    Fetch,
    Served,
    all_ready,
    call,
    cells,
    notebook_actions_config,
    served,
    status,
    wait_for,
)

LAUNCHER = EG_VENV / "share" / "enterprise-gateway" / "launch_ipykernel.py"
DISTRIBUTED = "enterprise_gateway.services.processproxies.distributed.DistributedProcessProxy"

WHERE = """
%%use_server
import os
import socket
import time
from pathlib import Path


def host() -> str:
    return socket.gethostname()


def hold(flag: str) -> str:
    while not Path(flag).exists():
        time.sleep(0.01)
    return socket.gethostname()


def kernel_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key.startswith("KERNEL_")}
"""

#: In a request's headers, arguments and path: must never reach a kernel's environment,
#: which Enterprise Gateway 3.3 writes into the SSH command line unquoted.
PWNED = Path(tempfile.gettempdir()) / "notebook-actions-pwned"
HOSTILE = f"$(touch {PWNED})"


def distributed_kernelspec(hosts: Hosts) -> dict[str, Any]:
    """EG's python_distributed kernelspec (from its sdist), for .venv's python and these hosts."""
    if not LAUNCHER.exists():
        pytest.fail(f"{LAUNCHER} is missing: `make gateways` extracts it from EG's sdist")
    return {
        "display_name": "Python 3 (distributed)",
        "language": "python",
        "metadata": {
            "process_proxy": {
                "class_name": DISTRIBUTED,
                "config": {"remote_hosts": ",".join(host.ip for host in hosts.hosts)},
            }
        },
        "env": {"PYTHONPATH": str(ROOT)},  # this worktree's notebook_actions
        "argv": [
            str(ROOT / ".venv" / "bin" / "python"),
            str(LAUNCHER),
            "--kernel-id",
            "{kernel_id}",
            "--response-address",
            "{response_address}",
            "--public-key",
            "{public_key}",
            "--port-range",
            "{port_range}",
            "--kernel-class-name",
            "ipykernel.ipkernel.IPythonKernel",
        ],
    }


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosts]:
    with make_hosts(tmp_path_factory.mktemp("hosts"), 2) as made:
        yield made


@pytest.fixture(scope="module")
def gateway(hosts: Hosts, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """Enterprise Gateway in its namespace, launching ``python3`` kernels on the hosts over SSH."""
    directory = tmp_path_factory.mktemp("eg")
    spec = directory / "enterprise-gateway-data" / "kernels" / "python3" / "kernel.json"
    spec.parent.mkdir(parents=True)
    spec.write_text(json.dumps(distributed_kernelspec(hosts)))
    logs = directory / "kernel-logs"
    logs.mkdir()
    environment = {
        "HOME": str(hosts.home),  # paramiko's client key and known_hosts
        "EG_RESPONSE_IP": hosts.gateway.ip,  # where the launchers send their connection info
        "EG_KERNEL_LOG_DIR": str(logs),
        "JUPYTER_PREFER_ENV_PATH": "0",  # this kernelspec, not the one in EG's venv of the same name
    }
    argv = [
        *hosts.gateway.exec("env", *(f"{key}={value}" for key, value in environment.items())),
        str(_executable(EG_VENV, "jupyter-enterprisegateway")),
        "--EnterpriseGatewayApp.unauthorized_users=set()",
        "--EnterpriseGatewayApp.load_balancing_algorithm=least-connection",
        # The pool watches its kernels itself (_liveness.py); EG 3.3's restarter would poll a
        # lost host's kernels over SSH on its event loop, stalling every other kernel.
        "--RemoteKernelManager.autorestart=False",
    ]
    yield from start_gateway(argv, directory, "enterprise-gateway", ip=hosts.gateway.ip, port=free_port())


@pytest.fixture
def jp_argv(gateway: Gateway) -> list[str]:
    return gateway_argv(gateway)


@pytest.fixture
def pool_on_gateway(jp_serverapp: Any, jp_asyncio_loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """Stops the pool and its kernels while the gateway still runs."""
    yield
    extension = jp_serverapp.web_app.settings["notebook_actions"]

    async def stop() -> None:
        await extension.serving.stop()
        await jp_serverapp.kernel_manager.shutdown_all()

    jp_asyncio_loop.run_until_complete(stop())


@pytest.mark.parametrize("served", [Served(notebooks={APP: cells(LOAD, WHERE)}, kernels=4)])
@server_test
async def test_a_pool_of_four_spreads_over_two_hosts_and_no_request_reaches_their_shell(
    jp_fetch: Fetch, hosts: Hosts, pool_on_gateway: None
) -> None:
    first, second = hosts.hosts
    # Requests full of KERNEL_* lookalikes, while the pool starts its kernels.
    hostile = {"KERNEL_EVIL": HOSTILE, "X-Kernel-Working-Dir": HOSTILE, **dict(JSON)}
    early = await jp_fetch(
        "notebook-actions", "api", "notebooks", *APP.split("/"), "actions", "kernel_env",
        method="POST", body=json.dumps({"KERNEL_EVIL": HOSTILE}), headers=hostile,
        params={"KERNEL_EVIL": HOSTILE}, raise_error=False,
    )  # fmt: skip
    missing = await jp_fetch("notebook-actions", "api", "notebooks", HOSTILE, "actions", "x", method="POST",
                             body="{}", headers=dict(JSON), raise_error=False)  # fmt: skip
    assert early.code in (422, 503) and missing.code == 404
    await wait_for(jp_fetch, all_ready(), timeout=120)
    # One after another, the pool's kernels take turns: least-connection put two on each host.
    places = [body(await call(jp_fetch, "host"))["value"] for _ in range(4)]
    assert Counter(places) == {first.name: 2, second.name: 2}
    # Each kernel's KERNEL_* are the gateway's own (its id, the user), nothing of a request,
    # not even the notebook's folder (KERNEL_WORKING_DIR): priming changes into it instead.
    for _ in range(4):
        env = body(await call(jp_fetch, "kernel_env"))["value"]
        assert "KERNEL_ID" in env and "KERNEL_WORKING_DIR" not in env and "KERNEL_EVIL" not in env
        assert not any(HOSTILE in value for value in env.values())
    assert not PWNED.exists()
