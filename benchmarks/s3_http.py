"""Scenario 3: HTTP invoke of a trivial action on loopback.

Ours: ``POST /notebook-actions/api/kernels/{id}/actions/add`` with ``{"a": 1, "b": 2}``,
token auth, answered ``{"value": 3}``. Baselines in the same run: Jupyter Kernel
Gateway's notebook-http serving the same endpoint from ``kernel_gateway.ipynb``, and
jupyter-server's own ``GET /api`` as the ceiling of any handler in that server.
"""

from __future__ import annotations

import psutil  # type: ignore[import-untyped]

from ._env import Bench, json_post
from ._kernel import connect, open_actions_comm
from ._load import Load, Request, run_load
from ._report import Row, unavailable
from ._servers import HOST, JupyterServer, server_extension_available
from ._stats import Latency, fmt_latency, fmt_rate, fmt_seconds
from .s2_kernel import round_trips

GOAL_P50 = 2e-3
GOAL_RATE = 1000.0
GOAL_VS_GATEWAY = 8.0
MANY = 16

NO_SERVER = "the server extension (notebook_actions/server) has not landed: nothing to measure"


def ours_request(server: JupyterServer, kernels: list[str], names: list[str] | None = None) -> Request:
    names = names or ["add"]
    paths = [server.path(f"notebook-actions/api/kernels/{kid}/actions/{name}") for name in names for kid in kernels]
    return json_post(paths, server, {"a": 1, "b": 2})


def ceiling_request(server: JupyterServer) -> Request:
    return Request("GET", (server.path("api"),), server.auth)


def _failed(*loads: Load) -> str:
    failed = sum(load.failed for load in loads)
    return f"{failed} requests failed (not 2xx) during the load" if failed else ""


def _cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def _split(bench: Bench, server: JupyterServer, request: Request, ours: Load, api: Load) -> str:
    """Where one connection's p50 goes: the server's HTTP floor (GET /api), the kernel's
    comm round trip (measured on the same kernel through its connection file), the rest;
    and the CPU time the server and the kernel spend per request."""
    kid = bench.kernels(1)[0]
    with connect(server.connection_info(kid)) as kc:
        comm = open_actions_comm(kc)
        round_trips(comm, 10, 0, echo=False)
        kernel = Latency.of(round_trips(comm, bench.sizes.roundtrips, 100, echo=False))
    rest = ours.latency.p50 - api.latency.p50 - kernel.p50
    pids = (server.process.pid, bench.kernel_pid(kid))
    before = [_cpu_seconds(pid) for pid in pids]
    load = run_load(HOST, server.port, request, 1, bench.sizes.http_seconds, use_wrk=bench.use_wrk)
    requests = max(load.requests, 1)
    server_cpu, kernel_cpu = ((_cpu_seconds(pid) - b) / requests for pid, b in zip(pids, before, strict=True))
    return (
        f"p50 split: {fmt_seconds(api.latency.p50)} HTTP floor (GET /api), {fmt_seconds(kernel.p50)} "
        f"kernel comm round trip of the same kernel (ZMQ, from another client), {fmt_seconds(rest)} "
        f"the rest (bridge, request parsing, JSON, the extra event-loop turns). CPU per request on one "
        f"connection: server {fmt_seconds(server_cpu)}, kernel {fmt_seconds(kernel_cpu)}."
    )


def run(bench: Bench) -> list[Row]:
    server = bench.jupyter()
    gateway = bench.kernel_gateway()
    kg_request = json_post(["/add"], gateway, {"a": 1, "b": 2})
    bench.check(gateway, kg_request, {"value": 3})
    api = ceiling_request(server)

    ours: dict[int, Load] = {}
    kg: dict[int, Load] = {}
    ceiling: dict[int, Load] = {}
    available = server_extension_available()
    if available:
        request = ours_request(server, bench.kernels(1))
        bench.check(server, request, {"value": 3})
    configs = [(server, api, c) for c in (1, MANY)] + [(gateway, kg_request, c) for c in (1, MANY)]
    if available:
        configs = [(server, request, c) for c in (1, MANY)] + configs
    loads = bench.loads(configs)
    if available:
        ours[1], ours[MANY] = loads[:2]
    ceiling[1], ceiling[MANY], kg[1], kg[MANY] = loads[-4:]
    tool = kg[1].tool

    kg1, kg16, api1, api16 = kg[1], kg[MANY], ceiling[1], ceiling[MANY]
    p50_goal = "p50 <= 2 ms"
    rate_goal = f">= {GOAL_RATE:,.0f} req/s and >= {GOAL_VS_GATEWAY:.0f}x KG"
    if not available:
        return [
            unavailable(
                "3a",
                "HTTP invoke add, 1 connection",
                p50_goal,
                NO_SERVER,
                f"Kernel Gateway: {fmt_latency(kg1.latency)}",
            ),
            unavailable(
                "3b",
                "HTTP invoke add, 1 connection",
                "- (ceiling)",
                NO_SERVER,
                f"GET /api: {fmt_latency(api1.latency)}",
            ),
            unavailable(
                "3c",
                f"HTTP invoke add, {MANY} connections",
                rate_goal,
                NO_SERVER,
                f"Kernel Gateway: {fmt_rate(kg16.rate)}",
            ),
            unavailable(
                "3d",
                f"HTTP invoke add, {MANY} connections",
                "- (ceiling)",
                NO_SERVER,
                f"GET /api: {fmt_rate(api16.rate)}",
            ),
        ]
    o1, o16 = ours[1], ours[MANY]
    vs_kg = o16.rate / kg16.rate
    split = _split(bench, server, request, o1, api1)
    return [
        Row(
            "3a",
            f"HTTP invoke add, 1 connection ({tool})",
            fmt_latency(o1.latency),
            f"Kernel Gateway: {fmt_latency(kg1.latency)}",
            o1.latency.p50 / kg1.latency.p50,
            p50_goal,
            o1.latency.p50 <= GOAL_P50,
            " ".join(filter(None, [_failed(o1, kg1), split])),
        ),
        Row(
            "3b",
            "HTTP invoke add, 1 connection",
            fmt_latency(o1.latency),
            f"GET /api: {fmt_latency(api1.latency)}",
            o1.latency.p50 / api1.latency.p50,
            "- (ceiling)",
            None,
            _failed(api1),
        ),
        Row(
            "3c",
            f"HTTP invoke add, {MANY} connections",
            f"{fmt_rate(o16.rate)} ({fmt_latency(o16.latency)})",
            f"Kernel Gateway: {fmt_rate(kg16.rate)}",
            vs_kg,
            rate_goal,
            o16.rate >= GOAL_RATE and vs_kg >= GOAL_VS_GATEWAY,
            _failed(o16, kg16),
        ),
        Row(
            "3d",
            f"HTTP invoke add, {MANY} connections",
            fmt_rate(o16.rate),
            f"GET /api: {fmt_rate(api16.rate)}",
            o16.rate / api16.rate,
            "- (ceiling)",
            None,
            _failed(api16),
        ),
    ]
