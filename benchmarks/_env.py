"""What the scenarios share in one run: sizes, the workspace, servers started once."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence

from ._kernel import connect, execute
from ._load import Load, Request, fetch, run_load, wrk_available
from ._procs import Workspace
from ._servers import HOST, JupyterServer, Server, start_jupyter, start_kernel_gateway
from ._sizes import Sizes
from ._stats import Latency


def actions_cell(names: Sequence[str]) -> str:
    """A ``%%use_server`` cell exporting ``name(a, b)`` for each name given, ``nap`` and ``upload``."""
    lines = ["%%use_server", "import asyncio", "from notebook_actions import UploadedFile", ""]
    for name in names:
        lines += [f"def {name}(a: int, b: int) -> int:", "    return a + b", ""]
    lines += [
        "async def nap(seconds: float) -> float:",
        "    await asyncio.sleep(seconds)",
        "    return seconds",
        "",
        "def upload(file: UploadedFile) -> int:",
        "    return file.size",
        "",
    ]
    return "\n".join(lines)


class Bench:
    """One run: the sizes, where things live, and servers started on first use."""

    def __init__(self, sizes: Sizes, workspace: Workspace, *, use_wrk: bool | None = None) -> None:
        self.sizes = sizes
        self.workspace = workspace
        self.use_wrk = wrk_available() if use_wrk is None else use_wrk
        self._jupyter: JupyterServer | None = None
        self._kernels: list[str] = []
        self._pids: dict[str, int] = {}
        self._gateways: dict[int, Server] = {}

    # --- servers ------------------------------------------------------------------------

    def jupyter(self) -> JupyterServer:
        """jupyter-server with the extension, started once for the HTTP scenarios."""
        if self._jupyter is None:
            self._jupyter = start_jupyter(self.workspace)
        return self._jupyter

    def adopt_jupyter(self, server: JupyterServer) -> None:
        """Use this server (started elsewhere, e.g. under a profiler) for what follows."""
        self._jupyter = server
        self._kernels.clear()

    def kernels(self, count: int) -> list[str]:
        """``count`` kernels of that server, each with ``add``, ``nap`` and ``upload`` exported."""
        server = self.jupyter()
        while len(self._kernels) < count:
            kid = server.start_kernel()
            server.connection_info(kid)
            self._pids[kid] = self.prepare(server, kid, ["add"])
            self._kernels.append(kid)
        return self._kernels[:count]

    def prepare(self, server: JupyterServer, kid: str, names: Sequence[str]) -> int:
        """Load the extension and export the actions in a kernel; return the kernel's pid."""
        with connect(server.connection_info(kid)) as kc:
            execute(kc, "%load_ext notebook_actions")
            execute(kc, actions_cell(names))
            return int(execute(kc, "import os; print(os.getpid())").strip())

    def kernel_pid(self, kid: str) -> int:
        return self._pids[kid]

    def kernel_gateway(self, prespawn: int = 1) -> Server:
        if prespawn not in self._gateways:
            self._gateways[prespawn] = start_kernel_gateway(self.workspace, prespawn=prespawn)
        return self._gateways[prespawn]

    def stop_kernel_gateway(self, prespawn: int) -> None:
        gateway = self._gateways.pop(prespawn, None)
        if gateway is not None:
            gateway.stop()

    # --- HTTP -----------------------------------------------------------------------------

    def load(self, server: Server, request: Request, connections: int, seconds: float | None = None) -> Load:
        """Median over repeated runs of a closed-loop load (rate, p50 and p99 each)."""
        return self.loads([(server, request, connections)], seconds)[0]

    def loads(self, configs: Sequence[tuple[Server, Request, int]], seconds: float | None = None) -> list[Load]:
        """Like ``load`` for several configurations, run in rounds (one run of each per
        round), so that a burst of other work on the machine does not fall on one alone."""
        length = self.sizes.http_seconds if seconds is None else seconds
        runs: list[list[Load]] = [[] for _ in configs]
        for _ in range(self.sizes.http_repeats):
            for index, (server, request, connections) in enumerate(configs):
                runs[index].append(run_load(HOST, server.port, request, connections, length, use_wrk=self.use_wrk))
                time.sleep(self.sizes.settle)  # let requests still queued (Kernel Gateway's) drain
        return [median_load(each) for each in runs]

    def check(self, server: Server, request: Request, expected: object) -> None:
        """One request must answer 2xx with ``expected`` as its JSON body before it is measured."""
        for index in range(len(request.paths)):
            status, body = asyncio.run(fetch(HOST, server.port, request.raw(HOST, server.port, index)))
            decoded = json.loads(body) if body else None
            if not 200 <= status < 300 or decoded != expected:
                message = (
                    f"{server.name} answered {status} {body[:300]!r} to "
                    f"{request.method} {request.paths[index]}, expected {expected!r}"
                )
                raise AssertionError(message)


def median_load(runs: Sequence[Load]) -> Load:
    ordered = sorted(runs, key=lambda r: r.rate)
    middle = ordered[len(ordered) // 2]
    return Load(
        middle.requests,
        middle.seconds,
        Latency.median_of([r.latency for r in runs]),
        sum(r.failed for r in runs),
        middle.tool,
    )


def json_post(paths: Sequence[str], server: Server, body: object) -> Request:
    return Request("POST", tuple(paths), {**server.auth, "Content-Type": "application/json"}, json.dumps(body).encode())
