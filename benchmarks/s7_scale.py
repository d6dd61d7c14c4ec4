"""Scenario 7: how the cost of scenario 3 grows with more actions and more kernels.

Requests are spread evenly over every exported action (or every kernel) in turn. The
baseline of each row is the first configuration (1 action, 1 kernel) measured in the
same run, so the ratio is the growth; the last row sets 4 kernels behind our server
against Kernel Gateway with 4 prespawned kernels.
"""

from __future__ import annotations

from ._env import Bench, actions_cell, json_post
from ._kernel import connect, execute
from ._load import Load
from ._report import Row, unavailable
from ._servers import server_extension_available
from ._stats import fmt_latency, fmt_rate
from .s3_http import MANY, NO_SERVER, ours_request


def _both(bench: Bench, kernels: list[str], names: list[str]) -> tuple[Load, Load]:
    server = bench.jupyter()
    request = ours_request(server, kernels, names)
    bench.check(server, request, {"value": 3})
    seconds = bench.sizes.http_seconds * 2 / 3  # shorter runs than scenario 3's: many configurations
    one, many = bench.loads([(server, request, 1), (server, request, MANY)], seconds)
    return one, many


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
        return [unavailable("7", "HTTP invoke add: actions and kernels", "- (growth)", NO_SERVER,
                            f"Kernel Gateway, {most_kernels} kernels: {fmt_rate(kg.rate)} @{MANY}")]
    rows: list[Row] = []
    server = bench.jupyter()
    first = bench.kernels(1)
    names = ["add"]
    base_one, base_many = _both(bench, first, names)
    base = f"1 action: {_text(base_one, base_many)}"
    for count in sizes.scale_actions[1:]:
        more = [f"f{i}" for i in range(len(names), count)]
        with connect(server.connection_info(first[0])) as kc:
            execute(kc, actions_cell(more))
        names += more
        one, many = _both(bench, first, names)
        rows.append(Row(f"7{chr(ord('a') + len(rows))}", f"HTTP invoke, {count} exported actions",
                        _text(one, many), base, one.latency.p50 / base_one.latency.p50,
                        "- (growth of p50)", None, _failed(one, many)))
    for count in sizes.scale_kernels[1:]:
        one, many = _both(bench, bench.kernels(count), ["add"])
        rows.append(Row(f"7{chr(ord('a') + len(rows))}", f"HTTP invoke add, {count} kernels, 1 server",
                        _text(one, many), f"1 kernel: {_text(base_one, base_many)}",
                        many.rate / base_many.rate, f"- (growth of req/s @{MANY})", None,
                        _failed(one, many)))
    gateway = bench.kernel_gateway(prespawn=most_kernels)
    kg = bench.load(gateway, json_post(["/add"], gateway, {"a": 1, "b": 2}), MANY)
    bench.stop_kernel_gateway(most_kernels)
    ours = many
    rows.append(Row(f"7{chr(ord('a') + len(rows))}", f"HTTP invoke add, {most_kernels} kernels, {MANY} connections",
                    fmt_rate(ours.rate), f"Kernel Gateway, {most_kernels} kernels: {fmt_rate(kg.rate)}",
                    ours.rate / kg.rate, "- (comparison)", None, _failed(kg)))
    return rows
