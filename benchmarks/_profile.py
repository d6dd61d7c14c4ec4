"""``python -m benchmarks --profile-server``: where the server's time goes under load.

Starts jupyter-server under pyinstrument, runs scenario 3's load on our endpoint (or on
``GET /api`` when the extension is missing), stops the server and keeps the report.
"""

from __future__ import annotations

from pathlib import Path

from ._env import Bench
from ._servers import server_extension_available, start_jupyter
from .s3_http import MANY, ceiling_request, ours_request

PROFILES = Path(__file__).with_name("profiles")


def profile_server(bench: Bench, seconds: float = 10) -> Path:
    PROFILES.mkdir(exist_ok=True)
    report = PROFILES / "jupyter-server-http.txt"
    report.unlink(missing_ok=True)
    server = start_jupyter(bench.workspace, profile=report)
    bench.adopt_jupyter(server)
    try:
        if server_extension_available():
            request = ours_request(server, bench.kernels(1))
            bench.check(server, request, {"value": 3})
        else:
            request = ceiling_request(server)
        for connections in (1, MANY):
            load = bench.load(server, request, connections, seconds=seconds / 2)
            print(f"{connections} connection(s): {load.rate:,.0f} req/s, p50 {load.latency.p50 * 1e3:.2f} ms")
    finally:
        server.stop()
    if not report.exists():
        message = f"pyinstrument wrote no report; the server's log:\n{server.process.log_tail()}"
        raise RuntimeError(message)
    return report
