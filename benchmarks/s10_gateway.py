"""Scenario 10: calls through Jupyter Enterprise Gateway 3.3 (``--gateway-url``).

EG writes a kernel's ``busy``, reply and ``idle`` as separate small websocket frames
without TCP_NODELAY, so each reply waits for our side's delayed ACK (~40 ms); the
extension's fix ACKs at once on our side (``notebook_actions/server/_acks.py``). Three
``jupyter notebook-actions serve`` servers, each with a pool of one kernel on a gateway,
timed one call at a time in the same rounds: the fix off and on, on a stock EG; and the
fix off on an EG patched to set TCP_NODELAY on its websockets (the stall removed at its
source: the baseline). Then a ``kernel_info`` round trip over a kernel websocket through
the server (what JupyterLab's widgets use: jupyter-server's gateway websocket proxy),
until the reply and ``idle`` are in: the fix off and on, on the stock EG, against the
patched EG with the setting on (the setting also sets TCP_NODELAY towards the client).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import secrets
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import nbformat
from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from ._env import Bench
from ._procs import Workspace, free_port, wait_until
from ._report import Row, unavailable
from ._servers import HOST, Server, serve_argv, server_extension_available
from ._stats import Latency, fmt_latency

ENTERPRISE_GATEWAY = Path(__file__).resolve().parents[1] / ".venv-eg" / "bin" / "jupyter-enterprisegateway"
NOTEBOOK = "gateway_bench.ipynb"
ACTION = f"notebook-actions/api/notebooks/{NOTEBOOK}/actions/add"

#: EG's config with TCP_NODELAY on every websocket it accepts (tornado's protocol starts
#: pinging right after it takes the stream over: the first moment the stream is there).
NODELAY_PATCH = """
import tornado.websocket

_start_pinging = tornado.websocket.WebSocketProtocol13.start_pinging


def start_pinging(self):
    if self.stream is not None:
        self.stream.set_nodelay(True)
    _start_pinging(self)


tornado.websocket.WebSocketProtocol13.start_pinging = start_pinging
"""


def start_enterprise_gateway(workspace: Workspace, *, patched: bool) -> Server:
    """Enterprise Gateway (its own venv, ``make gateways``) with a token on a free port."""
    if not ENTERPRISE_GATEWAY.exists():
        message = f"{ENTERPRISE_GATEWAY} is missing: `make gateways` builds Enterprise Gateway's venv"
        raise RuntimeError(message)
    port = free_port()
    token = secrets.token_hex(24)
    name = "enterprise-gateway-patched" if patched else "enterprise-gateway"
    argv = [
        str(ENTERPRISE_GATEWAY),
        f"--EnterpriseGatewayApp.ip={HOST}",
        f"--EnterpriseGatewayApp.port={port}",
        "--EnterpriseGatewayApp.port_retries=0",
        f"--EnterpriseGatewayApp.auth_token={token}",
        "--EnterpriseGatewayApp.unauthorized_users=set()",  # it refuses root otherwise
        "--EnterpriseGatewayApp.log_level=WARN",
    ]
    if patched:
        config = workspace.root / "eg_nodelay_config.py"
        config.write_text(NODELAY_PATCH)
        argv.append(f"--config={config}")
    process = workspace.start(name, argv)
    server = Server(name, port, token, process, workspace)
    wait_until(lambda: server.request("GET", "api/kernelspecs", timeout=5)[0] == 200, f"{name} to answer", 90, process)
    return server


def start_serve_on(workspace: Workspace, gateway: Server, *, fix: bool) -> Server:
    """``serve`` with a pool of one kernel on ``gateway``, the fix on or off."""
    port = free_port()
    token = secrets.token_hex(24)
    name = f"serve-{gateway.name}-{'fix' if fix else 'nofix'}"
    argv = serve_argv(
        workspace,
        NOTEBOOK,
        port,
        token,
        "--kernels=1",
        "--jupyter-api",  # for the kernel websocket rows
        f"--NotebookActions.tcp_nodelay={fix}",
        f"--gateway-url=http://{HOST}:{gateway.port}",
        f"--GatewayClient.auth_token={gateway.token}",
    )
    process = workspace.start(name, argv)
    server = Server(name, port, token, process, workspace)
    wait_until(lambda: server.request("POST", ACTION, {"a": 1, "b": 2}, timeout=30)[0] == 200, name, 180, process)
    return server


class Caller:
    """One keep-alive connection, one call at a time."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.conn = http.client.HTTPConnection(HOST, server.port, timeout=60)
        self.headers = {**server.auth, "Content-Type": "application/json"}
        self.body = json.dumps({"a": 1, "b": 2}).encode()

    def call(self) -> float:
        started = time.perf_counter()
        self.conn.request("POST", self.server.path(ACTION), self.body, self.headers)
        response = self.conn.getresponse()
        raw = response.read()
        took = time.perf_counter() - started
        if response.status != 200 or json.loads(raw) != {"value": 3}:
            message = f"{self.server.name} answered {response.status} {raw[:300]!r}"
            raise AssertionError(message)
        return took

    def close(self) -> None:
        self.conn.close()


class KernelSocket:
    """A kernel websocket through the server (to a kernel of its own on the gateway)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        status, body = server.request("POST", "api/kernels", {"name": "python3"})
        if status != 201:
            message = f"{server.name} could not start a kernel ({status}): {body}"
            raise RuntimeError(message)
        self.kernel_id: str = body["id"]
        self.loop = asyncio.new_event_loop()
        url = f"ws://{HOST}:{server.port}{server.path(f'api/kernels/{self.kernel_id}/channels')}?session_id=bench"
        self.ws: WebSocketClientConnection = self.loop.run_until_complete(_connect(url, server.auth))
        self.round_trip()  # the first one opens the gateway's side

    def round_trip(self) -> float:
        return self.loop.run_until_complete(self._kernel_info())

    async def _kernel_info(self) -> float:
        msg_id = uuid.uuid4().hex
        header = {"msg_id": msg_id, "msg_type": "kernel_info_request", "username": "", "session": "bench"}
        msg = {"header": {**header, "version": "5.3", "date": ""}, "parent_header": {}, "metadata": {}}
        started = time.perf_counter()
        await self.ws.write_message(json.dumps({**msg, "content": {}, "channel": "shell", "buffers": []}))
        replied = idle = False
        while not (replied and idle):
            frame = await asyncio.wait_for(self.ws.read_message(), 60)
            if frame is None:
                message = f"{self.server.name}'s kernel websocket closed"
                raise RuntimeError(message)
            reply = json.loads(frame)
            if reply.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            replied = replied or reply["msg_type"] == "kernel_info_reply"
            idle = idle or (reply["msg_type"] == "status" and reply["content"]["execution_state"] == "idle")
        return time.perf_counter() - started

    def close(self) -> None:
        # Inside the loop: tornado's close writes its frame with the running loop's futures.
        self.loop.run_until_complete(_close_socket(self.ws))
        self.loop.close()
        self.server.request("DELETE", f"api/kernels/{self.kernel_id}")


async def _close_socket(ws: WebSocketClientConnection) -> None:
    ws.close()
    await asyncio.sleep(0.05)  # the close frame goes out


async def _connect(url: str, headers: dict[str, str]) -> WebSocketClientConnection:
    return await websocket_connect(HTTPRequest(url, headers=headers))


def write_notebook(workspace: Workspace) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext notebook_actions"),
        nbformat.v4.new_code_cell("%%use_server\ndef add(a: int, b: int) -> int:\n    return a + b\n"),
    ]
    nbformat.write(nb, workspace.notebooks / NOTEBOOK)


def rounds(timers: list[Callable[[], float]], calls: int, repeats: int) -> list[Latency]:
    """Blocks of ``calls`` timed calls of each timer in turn, ``repeats`` rounds; median p50/p99."""
    runs: list[list[Latency]] = [[] for _ in timers]
    for _ in range(repeats):
        for index, timer in enumerate(timers):
            runs[index].append(Latency.of([timer() for _ in range(calls)]))
    return [Latency.median_of(each) for each in runs]


def stalled(latency: Latency) -> str:
    return "in the 40 ms mode" if latency.p99 >= 0.040 else "no 40 ms mode"


def run(bench: Bench) -> list[Row]:
    if not server_extension_available():
        return [unavailable("10", "calls through Enterprise Gateway", "-", "the server extension is not available")]
    if not ENTERPRISE_GATEWAY.exists():
        reason = f"{ENTERPRISE_GATEWAY} is missing (`make gateways` builds it)"
        return [unavailable("10", "calls through Enterprise Gateway", "-", reason)]
    workspace = bench.workspace
    write_notebook(workspace)
    calls = 5 if bench.sizes.smoke else 100
    repeats = bench.sizes.repeats
    servers: list[Server] = []
    callers: list[Caller] = []
    sockets: list[KernelSocket] = []
    try:
        stock = start_enterprise_gateway(workspace, patched=False)
        patched = start_enterprise_gateway(workspace, patched=True)
        servers += [stock, patched]
        serves = [
            start_serve_on(workspace, stock, fix=False),
            start_serve_on(workspace, stock, fix=True),
            start_serve_on(workspace, patched, fix=False),
            start_serve_on(workspace, patched, fix=True),
        ]
        servers += serves
        callers = [Caller(server) for server in serves[:3]]
        off, on, base = rounds([c.call for c in callers], calls, repeats)
        # Through the server's websocket proxy, the setting also turns TCP_NODELAY on the
        # client's side on or off (scenario 5's stall): the baseline has it on too.
        sockets = [KernelSocket(server) for server in (serves[0], serves[1], serves[3])]
        ws_off, ws_on, ws_base = rounds([s.round_trip for s in sockets], calls, repeats)
    finally:
        for each in sockets:
            each.close()
        for caller in callers:
            caller.close()
        for server in reversed(servers):  # the servers first, then their gateways
            server.stop()
    baseline = f"EG patched with TCP_NODELAY: {fmt_latency(base)}"
    ws_baseline = f"EG patched with TCP_NODELAY, the setting on: {fmt_latency(ws_base)}"
    note = f"median of {repeats} rounds of {calls} sequential calls each, one keep-alive connection"
    return [
        Row(
            "10a",
            "HTTP call through Enterprise Gateway 3.3, ACK fix on",
            fmt_latency(on),
            baseline,
            on.p50 / base.p50,
            "p50 <= 1.5x patched EG; no 40 ms mode in p99",
            on.p50 <= 1.5 * base.p50 and on.p99 < 0.040,
            f"{note}; fix on: {stalled(on)}",
        ),
        Row(
            "10b",
            "HTTP call through Enterprise Gateway 3.3, ACK fix off (as before)",
            fmt_latency(off),
            baseline,
            off.p50 / base.p50,
            "- (the stall)",
            None,
            f"fix off: {stalled(off)}; on/off p50: {on.p50 / off.p50:.2f}x",
        ),
        Row(
            "10c",
            "kernel websocket through the server to EG (JupyterLab's path), kernel_info to idle, fix on",
            fmt_latency(ws_on),
            ws_baseline,
            ws_on.p50 / ws_base.p50,
            "p50 <= 1.5x patched EG",
            ws_on.p50 <= 1.5 * ws_base.p50,
            f"the setting off (no TCP_NODELAY towards the client either): {fmt_latency(ws_off)}",
        ),
    ]
