"""Scenario 7: how the cost of scenario 3 grows with more actions and more kernels.

Requests are spread evenly over every exported action (or every kernel) in turn. The
baseline of each row is requests to one action of one kernel, measured in the same
rounds of runs, so the ratio is the growth and not a change in other work on the
machine; the last row sets 4 kernels behind our server against Kernel Gateway with 4
prespawned kernels.
"""

from __future__ import annotations

import psutil  # type: ignore[import-untyped]

from ._env import Bench, actions_cell, json_post
from ._kernel import connect, execute
from ._load import Load, Request, run_load
from ._report import Row, unavailable
from ._servers import HOST, server_extension_available
from ._stats import fmt_latency, fmt_rate, fmt_seconds
from .s3_http import MANY, NO_SERVER, ours_request


def _versus(bench: Bench, spread: Request, single: Request) -> tuple[Load, Load, Load, Load]:
    """Requests spread out and requests to one action of one kernel, measured in the same
    rounds (so the ratio is not other work on the machine): 1 and 16 connections each."""
    server = bench.jupyter()
    for request in (spread, single):
        bench.check(server, request, {"value": 3})
    seconds = bench.sizes.http_seconds * 2 / 3  # shorter runs than scenario 3's: many configurations
    configs = [(server, r, c) for r in (spread, single) for c in (1, MANY)]
    spread_one, spread_many, one, many = bench.loads(configs, seconds)
    return spread_one, spread_many, one, many


def _server_cpu(bench: Bench, request: Request) -> float:
    """Seconds of the server's CPU per request at 16 connections (one short extra run)."""
    server = bench.jupyter()
    process = psutil.Process(server.process.pid)
    before = sum(process.cpu_times()[:2])
    load = run_load(HOST, server.port, request, MANY, bench.sizes.http_seconds * 2 / 3, use_wrk=bench.use_wrk)
    return float(sum(process.cpu_times()[:2]) - before) / max(load.requests, 1)


def _text(one: Load, many: Load) -> str:
    return f"{fmt_latency(one.latency)}; {fmt_rate(many.rate)} @{MANY}"


def _failed(*loads: Load) -> str:
    failed = sum(load.failed for load in loads)
    return f"{failed} requests failed (not 2xx) during the load" if failed else ""


def run(bench: Bench) -> list[Row]:
    sizes = bench.sizes
    most_kernels = max(sizes.scale_kernels)
    if not server_extension_available():
        gateway = bench.kernel_gateway(prespawn=most_kernels)
        kg = bench.load(gateway, json_post(["/add"], gateway, {"a": 1, "b": 2}), MANY)
        bench.stop_kernel_gateway(most_kernels)
        return [
            unavailable(
                "7",
                "HTTP invoke add: actions and kernels",
                "- (growth)",
                NO_SERVER,
                f"Kernel Gateway, {most_kernels} kernels: {fmt_rate(kg.rate)} @{MANY}",
            )
        ]
    rows: list[Row] = []
    server = bench.jupyter()
    first = bench.kernels(1)
    single = ours_request(server, first, ["add"])
    names = ["add"]

    def letter() -> str:
        return f"7{chr(ord('a') + len(rows))}"

    for count in sizes.scale_actions[1:]:
        more = [f"f{i}" for i in range(len(names), count)]
        with connect(server.connection_info(first[0])) as kc:
            execute(kc, actions_cell(more))
        names += more
        spread_one, spread_many, one, many = _versus(bench, ours_request(server, first, names), single)
        rows.append(
            Row(
                letter(),
                f"HTTP invoke, {count} exported actions, requests spread over all",
                _text(spread_one, spread_many),
                f"one action, same rounds: {_text(one, many)}",
                spread_one.latency.p50 / one.latency.p50,
                "- (growth of p50)",
                None,
                _failed(spread_one, spread_many, one, many),
            )
        )
    most: Load | None = None
    for count in sizes.scale_kernels[1:]:
        spread_one, spread_many, one, many = _versus(bench, ours_request(server, bench.kernels(count), ["add"]), single)
        spread = ours_request(server, bench.kernels(count), ["add"])
        cpu = (
            f"Server CPU per request at {MANY} connections: {fmt_seconds(_server_cpu(bench, spread))} spread "
            f"over {count} kernels, {fmt_seconds(_server_cpu(bench, single))} to one kernel (each bridge "
            "batches only the requests in flight to its own kernel)."
        )
        rows.append(
            Row(
                letter(),
                f"HTTP invoke add, {count} kernels behind 1 server, requests spread over all",
                _text(spread_one, spread_many),
                f"one kernel, same rounds: {_text(one, many)}",
                spread_many.rate / many.rate,
                f"- (growth of req/s @{MANY})",
                None,
                " ".join(filter(None, [_failed(spread_one, spread_many, one, many), cpu])),
            )
        )
        most = spread_many
    gateway = bench.kernel_gateway(prespawn=most_kernels)
    kg = bench.load(gateway, json_post(["/add"], gateway, {"a": 1, "b": 2}), MANY)
    bench.stop_kernel_gateway(most_kernels)
    if most is not None:
        rows.append(
            Row(
                letter(),
                f"HTTP invoke add, {most_kernels} kernels, {MANY} connections",
                fmt_rate(most.rate),
                f"Kernel Gateway, {most_kernels} kernels: {fmt_rate(kg.rate)}",
                most.rate / kg.rate,
                "- (comparison)",
                None,
                _failed(kg),
            )
        )
    return rows
