"""Scenario 9: served notebooks (``jupyter notebook-actions serve``).

A CPU-bound sync action (about 20 ms of pure Python) at 16 connections through a served
pool of 1, 2 and 4 kernels, beside Kernel Gateway's notebook-http with as many prespawned
kernels running the same work, in the same rounds; then how long ``serve`` takes to its
first answered request, and a pool to be whole again after one of its kernels is killed.
"""

from __future__ import annotations

import os
import secrets
import signal
import time
from typing import Any

import nbformat
import psutil  # type: ignore[import-untyped]

from ._env import Bench, json_post
from ._procs import Workspace, free_port, wait_until
from ._report import Row, unavailable
from ._servers import (
    KERNEL_GATEWAY_NOTEBOOK,
    Server,
    serve_argv,
    server_extension_available,
    start_kernel_gateway,
)
from ._stats import fmt_rate, fmt_seconds
from .s3_http import MANY

NOTEBOOK = "serve_bench.ipynb"
GATEWAY_NOTEBOOK = "kernel_gateway_busy.ipynb"
TARGET_SECONDS = 0.02

WORK = '''
def work(n: int) -> int:
    """Pure-Python CPU work: the GIL held throughout, as in most notebook code."""
    total = 0
    for i in range(n):
        total += i * i % 7
    return total
'''


def work(n: int) -> int:
    namespace: dict[str, Any] = {}
    exec(WORK, namespace)  # the very code the kernels run
    result: int = namespace["work"](n)
    return result


def calibrate() -> int:
    """How many iterations of ``work`` take about 20 ms here (the same count on both sides)."""
    n = 10_000
    while True:
        started = time.perf_counter()
        work(n)
        took = time.perf_counter() - started
        if took > 0.005:
            return max(1, int(n * TARGET_SECONDS / took))
        n *= 2


def write_notebooks(workspace: Workspace, n: int) -> None:
    served = nbformat.v4.new_notebook()
    served.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    served.cells = [
        nbformat.v4.new_code_cell("%load_ext notebook_actions"),
        nbformat.v4.new_code_cell(f"%%use_server\n{WORK}\n\ndef busy() -> int:\n    return work({n})\n"),
    ]
    nbformat.write(served, workspace.notebooks / NOTEBOOK)
    gateway = nbformat.read(KERNEL_GATEWAY_NOTEBOOK, as_version=4)
    gateway.cells += [
        nbformat.v4.new_code_cell(WORK),
        nbformat.v4.new_code_cell(f'# POST /busy\nprint(json.dumps({{"value": work({n})}}))'),
    ]
    nbformat.write(gateway, workspace.notebooks / GATEWAY_NOTEBOOK)


def start_serve(workspace: Workspace, kernels: int) -> tuple[Server, float]:
    """``jupyter notebook-actions serve`` and the seconds to its first answered request."""
    port = free_port()
    token = secrets.token_hex(24)
    argv = serve_argv(workspace, NOTEBOOK, port, token, f"--kernels={kernels}")
    started = time.monotonic()
    process = workspace.start(f"serve-{kernels}", argv)
    server = Server(f"serve-{kernels}", port, token, process, workspace)
    wait_until(lambda: _answers(server, _busy_path()), "serve to answer", 120, process)
    return server, time.monotonic() - started


def _busy_path() -> str:
    return f"/notebook-actions/api/notebooks/{NOTEBOOK}/actions/busy"


def _answers(server: Server, path: str) -> bool:
    try:
        status, _ = server.request("POST", path.lstrip("/"), {}, timeout=30)
    except OSError:
        return False
    return status == 200


def _kernels(server: Server) -> list[dict[str, Any]]:
    status, body = server.request("GET", "notebook-actions/api/status")
    kernels: list[dict[str, Any]] = body["notebooks"][0]["kernels"] if status == 200 else []
    return kernels


def heal_seconds(server: Server, workspace: Workspace) -> float:
    """SIGKILL one kernel of the pool; seconds until every kernel is ready again."""
    kernels = _kernels(server)
    doomed = kernels[0]["id"]
    connection = str(workspace.runtime / f"kernel-{doomed}.json")
    pid = next(
        child.pid
        for child in psutil.Process(server.process.pid).children(recursive=True)
        if connection in " ".join(child.cmdline())
    )
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: _kernels(server)[0]["state"] != "ready", "the server to notice the death", 60)
    wait_until(lambda: [k["state"] for k in _kernels(server)] == ["ready"] * len(kernels), "the pool to heal", 120)
    return time.monotonic() - killed


def run(bench: Bench) -> list[Row]:
    sizes = bench.sizes
    if not server_extension_available():
        return [unavailable("9", "serve: pools of kernels", "-", "the server extension is not available")]
    workspace = bench.workspace
    n = calibrate()
    write_notebooks(workspace, n)
    rows: list[Row] = []
    rates: dict[int, float] = {}
    startup: tuple[float, float] | None = None
    heal: float | None = None
    for kernels in sizes.serve_kernels:
        serve, serve_seconds = start_serve(workspace, kernels)
        gateway_started = time.monotonic()
        gateway = start_kernel_gateway(workspace, prespawn=kernels, seed=workspace.notebooks / GATEWAY_NOTEBOOK)
        wait_until(lambda gateway=gateway: _answers(gateway, "/busy"), "Kernel Gateway to answer /busy", 120)
        gateway_seconds = time.monotonic() - gateway_started
        try:
            ours = json_post([serve.path(_busy_path())], serve, {})
            theirs = json_post(["/busy"], gateway, {})
            bench.check(serve, ours, {"value": work(n)})
            bench.check(gateway, theirs, {"value": work(n)})
            served, kg = bench.loads([(serve, ours, MANY), (gateway, theirs, MANY)])
            if kernels == 1:
                startup = (serve_seconds, gateway_seconds)
            if kernels == max(sizes.serve_kernels):
                heal = heal_seconds(serve, workspace)
        finally:
            serve.stop()
            gateway.stop()
        rates[kernels] = served.rate
        growth = served.rate / rates[min(rates)]
        goal = ">= 5x KG" + ("; >= 1.7x of 1 kernel" if kernels == 2 else "")
        met = served.rate >= 5 * kg.rate and (kernels != 2 or growth >= 1.7)
        failed = served.failed + kg.failed
        note = f"{growth:.2f}x the 1-kernel pool's rate (another round); the action: {n:,} iterations of pure Python"
        if failed:
            note += f"; {failed} requests failed (not 2xx) during the load"
        rows.append(
            Row(
                f"9{chr(ord('a') + len(rows))}",
                f"served pool of {kernels} kernel(s), 20 ms CPU-bound sync action, {MANY} connections",
                fmt_rate(served.rate),
                f"Kernel Gateway, {kernels} prespawned: {fmt_rate(kg.rate)}",
                served.rate / kg.rate,
                goal,
                met,
                note,
            )
        )
    if startup is not None:
        rows.append(
            Row(
                f"9{chr(ord('a') + len(rows))}",
                "serve: start to first answered request (1 kernel)",
                fmt_seconds(startup[0]),
                f"Kernel Gateway start to first answer: {fmt_seconds(startup[1])}",
                startup[0] / startup[1],
                "- (comparison)",
                None,
            )
        )
    if heal is not None:
        rows.append(
            Row(
                f"9{chr(ord('a') + len(rows))}",
                f"a kernel SIGKILLed: until the pool of {max(sizes.serve_kernels)} is whole again",
                fmt_seconds(heal),
                "jupyter_client's restarter polls every 3 s",
                None,
                "<= 30 s",
                heal <= 30,
            )
        )
    return rows
