"""``python -m benchmarks --profile-server WHAT``: where the server's time goes.

Starts jupyter-server under pyinstrument, drives it (``http``: scenario 3's load on our
endpoint; ``upload``: scenario 6's multipart uploads), stops the server and keeps
pyinstrument's session and two text renderings of it (application frames only, and
every frame) in ``benchmarks/profiles/`` (not committed).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from ._env import Bench
from ._servers import JupyterServer, server_extension_available, start_jupyter
from .s3_http import MANY, ours_request

PROFILES = Path(__file__).with_name("profiles")
TARGETS = ("http", "upload")


def _http(bench: Bench, server: JupyterServer, seconds: float) -> None:
    request = ours_request(server, bench.kernels(1))
    bench.check(server, request, {"value": 3})
    for connections in (1, MANY):
        load = bench.load(server, request, connections, seconds=seconds / 2)
        print(f"{connections} connection(s): {load.rate:,.0f} req/s, p50 {load.latency.p50 * 1e3:.2f} ms")


def _upload(bench: Bench, server: JupyterServer, seconds: float) -> None:
    from .s6_upload import multipart, post

    kid = bench.kernels(1)[0]
    path = server.path(f"notebook-actions/api/kernels/{kid}/actions/upload")
    content_type, body = multipart(os.urandom(bench.sizes.upload_bytes))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        status, answer = post(bench, path, content_type, body)
        rate = bench.sizes.upload_bytes / (time.perf_counter() - t0) / 1e6
        print(f"upload: {status} {answer[:60]!r}, {rate:,.0f} MB/s")


def profile_server(bench: Bench, what: str, seconds: float = 10) -> Path:
    if not server_extension_available():
        message = "the server extension is not there to profile"
        raise RuntimeError(message)
    PROFILES.mkdir(exist_ok=True)
    session = PROFILES / f"jupyter-server-{what}.pyisession"
    session.unlink(missing_ok=True)
    server = start_jupyter(bench.workspace, profile=session)
    bench.adopt_jupyter(server)
    try:
        {"http": _http, "upload": _upload}[what](bench, server, seconds)
    finally:
        server.stop()
    if not session.exists():
        message = f"pyinstrument wrote no session; the server's log:\n{server.process.log_tail()}"
        raise RuntimeError(message)
    report = session.with_suffix(".txt")
    for path, options in ((report, []), (session.with_suffix(".all.txt"), ["--show-all"])):
        done = subprocess.run(
            [sys.executable, "-m", "pyinstrument", f"--load={session}", "--renderer=text", "--unicode", *options],
            capture_output=True,
            text=True,
            check=True,
        )
        path.write_text(done.stdout)
    return report
