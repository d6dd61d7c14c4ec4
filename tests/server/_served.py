"""``jupyter notebook-actions serve`` as real processes, for the tests of what happens around
a server (readiness, SIGTERM draining, several servers behind a load balancer): a folder of
notebooks the test writes, one process per server on a free loopback port, plain HTTP."""

from __future__ import annotations

import contextlib
import http.client
import json
import secrets
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from tests.e2e._servers import BIN, descendants, end, free_port, isolated_env

START_SECONDS = 120.0


def write_notebook(path: Path, *sources: str) -> None:
    """A notebook that loads notebook-actions, then runs ``sources`` as its code cells."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(s) for s in ("%load_ext notebook_actions", *sources)]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    port: int, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, timeout: float = 60
) -> Response:
    """One request on a connection of its own; header names in lower case."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = None if body is None else json.dumps(body).encode()
        sent = {**({"Content-Type": "application/json"} if data is not None else {}), **(headers or {})}
        conn.request(method, path, data, sent)
        response = conn.getresponse()
        return Response(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        conn.close()


@dataclass
class Served:
    """A running ``serve`` process."""

    process: subprocess.Popen[bytes]
    port: int
    token: str
    log: Path
    kernels: dict[int, str] = field(default_factory=dict)  # PID: start time, to end them for sure

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def call(self, notebook: str, name: str, args: Any = None, timeout: float = 60) -> Response:
        path = f"/notebook-actions/api/notebooks/{notebook}/actions/{name}"
        return request(self.port, "POST", path, args or {}, self.auth, timeout)

    def health(self) -> Response:
        return request(self.port, "GET", "/notebook-actions/health", timeout=10)

    def status(self) -> dict[str, Any]:
        response = request(self.port, "GET", "/notebook-actions/api/status", headers=self.auth)
        assert response.status == 200, response
        with contextlib.suppress(OSError):
            self.kernels.update(descendants(self.process.pid))
        return {notebook["path"]: notebook for notebook in response.json()["notebooks"]}

    def wait_for(self, test: Callable[[], bool], what: str, timeout: float = START_SECONDS) -> None:
        """Poll ``test`` until it holds; fail with the log if the server exits or it never does."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited with {self.process.returncode} waiting for {what}:\n{self.tail()}")
            with contextlib.suppress(OSError):
                if test():
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"serve never got to {what}:\n{self.tail()}")
            time.sleep(0.05)

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.kernels.update(descendants(self.process.pid))
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.send_signal(signal.SIGTERM)  # the second one: stop at once, no draining
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        for pid, started in self.kernels.items():
            end(pid, started)


def start_serve(
    root: Path,
    home: Path,
    notebooks: list[str],
    *options: str,
    name: str = "serve",
    port: int | None = None,
    token: str | None = None,
) -> Served:
    """``jupyter notebook-actions serve NOTEBOOK...`` in ``root``, its Jupyter folders under
    ``home``, on ``port`` with ``token`` (by default a free port and a new token)."""
    port = port or free_port()
    token = token or secrets.token_hex(16)
    argv = [
        str(BIN / "jupyter"),
        "notebook-actions",
        "serve",
        *notebooks,
        f"--port={port}",
        "--ip=127.0.0.1",
        "--ServerApp.port_retries=0",
        "--ServerApp.allow_root=True",  # containers and CI often run as root
        f"--IdentityProvider.token={token}",
        *options,
    ]
    log = home.parent / f"{name}.log"
    env = isolated_env(home, {})
    with log.open("wb") as output:
        process = subprocess.Popen(
            argv, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT
        )
    return Served(process, port, token, log)
