"""The servers the HTTP and browser scenarios talk to: jupyter-server (or JupyterLab)
with the notebook-actions extension, and Jupyter Kernel Gateway's notebook-http mode."""

from __future__ import annotations

import json
import secrets
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.connect import KernelConnectionInfo

from ._procs import Process, Workspace, free_port, wait_until

HOST = "127.0.0.1"
KERNEL_GATEWAY_NOTEBOOK = Path(__file__).with_name("kernel_gateway.ipynb")
#: Kernel Gateway in its own venv (``make gateways``), whose ``python3`` kernelspec runs .venv's Python.
KERNEL_GATEWAY = Path(__file__).resolve().parents[1] / ".venv-kg" / "bin" / "jupyter-kernelgateway"


def server_extension_available() -> bool:
    """Whether notebook_actions.server is a jupyter-server extension yet."""
    try:
        from notebook_actions import server
    except ImportError:
        return False
    return hasattr(server, "NotebookActions")


@dataclass
class Server:
    name: str
    port: int
    token: str
    process: Process
    workspace: Workspace
    base_url: str = "/"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def path(self, rest: str) -> str:
        return self.base_url + rest.lstrip("/")

    def request(self, method: str, rest: str, body: Any = None, timeout: float = 60) -> tuple[int, Any]:
        """One request (for set-up, not for measuring): the status and the decoded JSON body."""
        data = None if body is None else json.dumps(body).encode()
        headers = {**self.auth, "Content-Type": "application/json"}
        req = urllib.request.Request(
            f"http://{HOST}:{self.port}{self.path(rest)}", data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def stop(self) -> None:
        self.workspace.stop(self.process)


@dataclass
class JupyterServer(Server):
    _connections: dict[str, KernelConnectionInfo] = field(default_factory=dict)

    def start_kernel(self) -> str:
        status, body = self.request("POST", "api/kernels", {"name": "python3"})
        if status != 201:
            message = f"could not start a kernel ({status}): {body}"
            raise RuntimeError(message)
        kid: str = body["id"]
        return kid

    def connection_info(self, kernel_id: str) -> KernelConnectionInfo:
        """The kernel's ports and key, read once from the file the server wrote and kept:
        the benchmarks do not rely on the file staying there."""
        if kernel_id not in self._connections:
            path = self.workspace.runtime / f"kernel-{kernel_id}.json"
            wait_until(path.exists, f"the connection file of kernel {kernel_id}", 30, self.process)
            info: KernelConnectionInfo = json.loads(path.read_text())
            self._connections[kernel_id] = info
        return self._connections[kernel_id]

    def shutdown_kernel(self, kernel_id: str) -> None:
        self.request("DELETE", f"api/kernels/{kernel_id}")

    def stop(self) -> None:
        if self.process.alive():
            status, kernels = self.request("GET", "api/kernels")
            for kernel in kernels if status == 200 else []:
                self.shutdown_kernel(kernel["id"])
        super().stop()


def serve_argv(workspace: Workspace, notebook: str, port: int, token: str, *options: str) -> list[str]:
    """``jupyter notebook-actions serve NOTEBOOK OPTIONS...`` on loopback ``port`` with ``token``,
    in the workspace's notebooks, logging only warnings."""
    return [
        str(Path(sys.executable).with_name("jupyter-notebook-actions")),
        "serve",
        notebook,
        *options,
        f"--ServerApp.ip={HOST}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={workspace.notebooks}",
        "--ServerApp.allow_root=True",
        "--ServerApp.log_level=WARN",
    ]


def start_jupyter(
    workspace: Workspace,
    *,
    lab: bool = False,
    extension: bool = True,
    options: dict[str, Any] | None = None,
    extra: tuple[str, ...] = (),
    profile: Path | None = None,
) -> JupyterServer:
    """``jupyter server`` (or ``jupyter lab``) on a free loopback port, with a token;
    with ``profile``, under pyinstrument, whose session file goes there when it stops."""
    port = free_port()
    token = secrets.token_hex(24)
    enabled = extension and server_extension_available()
    config: dict[str, Any] = {"ServerApp": {"jpserver_extensions": {"notebook_actions": enabled}}}
    if options:
        config["NotebookActions"] = options
    config_file = workspace.root / f"config-{port}.json"
    config_file.write_text(json.dumps(config))
    module = "jupyterlab" if lab else "jupyter_server"
    python = [sys.executable]
    if profile is not None:
        python += ["-m", "pyinstrument", "--renderer=pyisession", f"--outfile={profile}"]
    argv = [
        *python,
        "-m",
        module,
        f"--config={config_file}",
        f"--ServerApp.ip={HOST}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.open_browser=False",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={workspace.notebooks}",
        "--ServerApp.allow_root=True",
        "--ServerApp.log_level=WARN",
        *extra,
    ]
    process = workspace.start("jupyter-lab" if lab else "jupyter-server", argv)
    server = JupyterServer("jupyter-server", port, token, process, workspace)
    wait_until(lambda: server.request("GET", "api", timeout=5)[0] == 200, "jupyter-server to answer", 90, process)
    return server


def start_kernel_gateway(workspace: Workspace, *, prespawn: int = 1, seed: Path = KERNEL_GATEWAY_NOTEBOOK) -> Server:
    """Kernel Gateway serving ``kernel_gateway.ipynb``'s endpoints, or ``seed``'s (which has
    them too), in notebook-http mode."""
    if not KERNEL_GATEWAY.exists():
        message = f"{KERNEL_GATEWAY} is missing: `make gateways` builds Kernel Gateway's venv (`make bench` does too)"
        raise RuntimeError(message)
    port = free_port()
    token = secrets.token_hex(24)
    argv = [
        str(KERNEL_GATEWAY),
        "--KernelGatewayApp.api=kernel_gateway.notebook_http",
        f"--KernelGatewayApp.seed_uri={seed}",
        f"--KernelGatewayApp.ip={HOST}",
        f"--KernelGatewayApp.port={port}",
        "--KernelGatewayApp.port_retries=0",
        f"--KernelGatewayApp.auth_token={token}",
        f"--KernelGatewayApp.prespawn_count={prespawn}",
        "--KernelGatewayApp.log_level=WARN",
    ]
    process = workspace.start("kernel-gateway", argv)
    server = Server("kernel-gateway", port, token, process, workspace)

    # Listening first (the swagger document needs no kernel), then one request at a time:
    # notebook-http queues requests per kernel, so abandoned ones would pile up ahead.
    wait_until(
        lambda: server.request("GET", "_api/spec/swagger.json", timeout=5)[0] == 200,
        "Kernel Gateway to listen",
        90,
        process,
    )

    def answers() -> bool:
        status, body = server.request("POST", "add", {"a": 1, "b": 2}, timeout=60)
        return status == 200 and body == {"value": 3}

    wait_until(answers, "Kernel Gateway to answer POST /add", 120, process)
    return server
