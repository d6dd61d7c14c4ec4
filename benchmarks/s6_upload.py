"""Scenario 6: a large file into an action, ``upload(file: UploadedFile) -> int``.

Through a Form: the file goes as ``upload`` chunks (1 MiB, a few in flight, each
acknowledged) on the widget's comm, then one ``invoke`` names the finished upload;
baseline: the same chunks sent to a bare comm that only counts them. Through HTTP:
one ``multipart/form-data`` POST to the action's endpoint; baseline: the same bytes
through jupyter-server's contents API (a base64 JSON PUT, as JupyterLab uploads).
Memory: how far the kernel's resident size rose above where it was before the upload.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from ._env import Bench, actions_cell
from ._kernel import ECHO_SETUP, ECHO_TARGET, Comm, WidgetComm, execute, local_kernel, replies
from ._load import fetch
from ._procs import memory_bytes, reset_peak
from ._report import Row, unavailable
from ._servers import HOST, server_extension_available
from ._stats import fmt_bytes
from .s3_http import NO_SERVER
from .s4_concurrency import NO_WIDGETS, widget_cell, widgets_available

GOAL_RATE = 100e6  # bytes/s
GOAL_PEAK = 3.0  # times the file's size
CHUNK = 1 << 20
WINDOW = 2  # as the widgets' client.js: 1 MiB chunks, 2 unacknowledged


@dataclass(frozen=True)
class Upload:
    seconds: float
    size: int
    peak_growth: int  # bytes above the resident size before the upload

    @property
    def rate(self) -> float:
        return self.size / self.seconds

    def rate_text(self) -> str:
        return f"{self.rate / 1e6:,.0f} MB/s"

    def peak_text(self) -> str:
        return f"+{fmt_bytes(self.peak_growth)} ({self.peak_growth / self.size:.2f}x file)"


def _measured(pid: int | None, size: int, send: Callable[[], None], repeats: int) -> Upload:
    """The median time of ``repeats`` uploads, and the largest peak growth of the kernel
    (``pid``) over its resident size just before each."""
    times = []
    growth = 0
    for _ in range(repeats):
        if pid is not None:
            reset_peak(pid)
            before, _ = memory_bytes(pid)
        t0 = time.perf_counter()
        send()
        times.append(time.perf_counter() - t0)
        if pid is not None:
            _, peak = memory_bytes(pid)
            growth = max(growth, peak - before)
    return Upload(statistics.median(times), size, growth)


def _send_chunks(comm: Comm, data: bytes, uid: str, kind: str) -> None:
    """Send ``data`` in chunks, at most WINDOW unacknowledged; wait for the last ack."""
    chunks = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)] or [b""]
    acked = 0
    for index, chunk in enumerate(chunks):
        message: dict[str, object] = {"kind": kind, "id": uid}
        if index == 0:
            message |= {"name": "data.bin", "content_type": "application/octet-stream"}
        if index == len(chunks) - 1:
            message["final"] = True
        comm.send(message, [chunk])
        while index - acked >= WINDOW - 1:
            acked += _acks(comm, uid)
    while acked < len(chunks):
        acked += _acks(comm, uid)


def _acks(comm: Comm, uid: str) -> int:
    data, _ = comm.receive(60)
    count = 0
    for reply in replies(data):
        if reply.get("id") != uid:
            continue
        if reply.get("kind") not in ("uploaded", "size"):
            message = f"the upload failed: {reply!r}"
            raise AssertionError(message)
        count += 1
    return count


def _form_upload(widget: WidgetComm, action_id: str, data: bytes) -> None:
    uid = uuid.uuid4().hex
    _send_chunks(widget, data, uid, "upload")
    rid = uuid.uuid4().hex
    widget.send(
        {"kind": "invoke", "id": rid, "action": action_id, "files": {"file": [{"name": "data.bin", "upload": uid}]}}
    )
    while True:
        reply, _ = widget.receive(60)
        for item in replies(reply):
            if item.get("id") == rid:
                assert item == {"kind": "result", "id": rid, "value": len(data)}, item
                return


def _comm_rows(bench: Bench, data: bytes) -> list[Row]:
    size = len(data)
    name = f"Form upload of {fmt_bytes(size)}"
    with local_kernel(bench.workspace.env, bench.workspace.log("kernel-s6")) as (_, kc):
        execute(kc, "%load_ext notebook_actions")
        execute(kc, actions_cell(["add"]))
        execute(kc, ECHO_SETUP)
        pid = int(execute(kc, "import os; print(os.getpid())"))
        echo = Comm(kc, ECHO_TARGET)
        repeats = bench.sizes.http_repeats
        base = _measured(pid, size, lambda: _send_chunks(echo, data, uuid.uuid4().hex, "size"), repeats)
        if not widgets_available():
            return [
                unavailable(
                    "6a", f"{name}: rate", rate_goal(bench), NO_WIDGETS, f"bare comm, same chunks: {base.rate_text()}"
                ),
                unavailable(
                    "6b", f"{name}: kernel memory", peak_goal(bench), NO_WIDGETS, f"bare comm: {base.peak_text()}"
                ),
            ]
        comm_id, action_id = execute(kc, widget_cell("upload")).split()
        widget = WidgetComm(kc, "", comm_id=comm_id)
        _form_upload(widget, action_id, data[:1000])  # warm up
        ours = _measured(pid, size, lambda: _form_upload(widget, action_id, data), repeats)
    return [
        Row(
            "6a",
            f"{name}: rate",
            ours.rate_text(),
            f"bare comm, same chunks: {base.rate_text()}",
            ours.rate / base.rate,
            rate_goal(bench),
            _rate_met(bench, ours),
        ),
        Row(
            "6b",
            f"{name}: kernel memory",
            ours.peak_text(),
            f"bare comm: {base.peak_text()}",
            None,
            peak_goal(bench),
            _peak_met(bench, ours),
        ),
    ]


def rate_goal(bench: Bench) -> str:
    return ">= 100 MB/s" if not bench.sizes.smoke else "-"


def peak_goal(bench: Bench) -> str:
    return "peak < 3x file" if not bench.sizes.smoke else "-"


def _rate_met(bench: Bench, upload: Upload) -> bool | None:
    return None if bench.sizes.smoke else upload.rate >= GOAL_RATE


def _peak_met(bench: Bench, upload: Upload) -> bool | None:
    return None if bench.sizes.smoke else upload.peak_growth < GOAL_PEAK * upload.size


def multipart(data: bytes, field: str = "file") -> tuple[str, bytes]:
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="data.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return f"multipart/form-data; boundary={boundary}", head + data + f"\r\n--{boundary}--\r\n".encode()


def post(bench: Bench, path: str, content_type: str, body: bytes, method: str = "POST") -> tuple[int, bytes]:
    server = bench.jupyter()
    head = [
        f"{method} {path} HTTP/1.1",
        f"Host: {HOST}:{server.port}",
        f"Authorization: token {server.token}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
    ]
    raw = ("\r\n".join(head) + "\r\n\r\n").encode() + body
    return asyncio.run(fetch(HOST, server.port, raw, timeout=300))


def _http_rows(bench: Bench, data: bytes) -> list[Row]:
    size = len(data)
    server = bench.jupyter()
    contents = json.dumps({"type": "file", "format": "base64", "content": base64.b64encode(data).decode()}).encode()

    def put() -> None:
        path = server.path("api/contents/upload.bin")
        status, body = post(bench, path, "application/json", contents, "PUT")
        assert status in (200, 201), (status, body[:300])

    repeats = bench.sizes.http_repeats
    base = _measured(None, size, put, repeats)
    baseline = f"contents API PUT: {base.rate_text()}"
    name = f"HTTP multipart upload of {fmt_bytes(size)}"
    if not server_extension_available():
        return [
            unavailable("6c", f"{name}: rate", rate_goal(bench), NO_SERVER, baseline),
            unavailable("6d", f"{name}: kernel memory", peak_goal(bench), NO_SERVER),
        ]
    kid = bench.kernels(1)[0]
    path = server.path(f"notebook-actions/api/kernels/{kid}/actions/upload")

    def post_once(payload: bytes, content_type: str, body: bytes) -> None:
        status, answer = post(bench, path, content_type, body)
        assert status == 200 and json.loads(answer) == {"value": len(payload)}, (status, answer[:300])

    post_once(b"warm up", *multipart(b"warm up"))
    content_type, body = multipart(data)  # made before the clock starts, as the PUT's JSON
    ours = _measured(bench.kernel_pid(kid), size, lambda: post_once(data, content_type, body), repeats)
    return [
        Row(
            "6c",
            f"{name}: rate",
            ours.rate_text(),
            baseline,
            ours.rate / base.rate,
            rate_goal(bench),
            _rate_met(bench, ours),
        ),
        Row("6d", f"{name}: kernel memory", ours.peak_text(), "-", None, peak_goal(bench), _peak_met(bench, ours)),
    ]


def run(bench: Bench) -> list[Row]:
    data = os.urandom(bench.sizes.upload_bytes)
    return _comm_rows(bench, data) + _http_rows(bench, data)
