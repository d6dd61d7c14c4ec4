"""HTTP load: ``wrk`` when it is installed, else a small asyncio keep-alive client.

Both keep ``connections`` connections busy for ``seconds``, each sending its next
request as soon as the previous answer has arrived (a closed loop), and report the
request rate, p50/p99 latency and the count of failed requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ._stats import Latency


@dataclass(frozen=True)
class Request:
    method: str
    paths: tuple[str, ...]  # rotated through, one per request
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def raw(self, host: str, port: int, index: int = 0) -> bytes:
        path = self.paths[index % len(self.paths)]
        head = [f"{self.method} {path} HTTP/1.1", f"Host: {host}:{port}"]
        head += [f"{k}: {v}" for k, v in self.headers.items()]
        if self.body or self.method in ("POST", "PUT"):
            head.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(head) + "\r\n\r\n").encode() + self.body


@dataclass(frozen=True)
class Load:
    requests: int
    seconds: float
    latency: Latency
    failed: int  # connection errors, timeouts and non-2xx answers
    tool: str

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_load(host: str, port: int, request: Request, connections: int, seconds: float, *, use_wrk: bool) -> Load:
    if use_wrk:
        return _wrk(host, port, request, connections, seconds)
    return asyncio.run(_client_load(host, port, request, connections, seconds))


# --- wrk ------------------------------------------------------------------------------

_WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK_RESULT %d %d %d %d %d %d %d %d %d\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def _lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


def _wrk_script(request: Request) -> str:
    lines = [f"wrk.method = {_lua_string(request.method)}", f"wrk.body = {_lua_string(request.body.decode())}"]
    lines += [f"wrk.headers[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in request.headers.items()]
    if len(request.paths) > 1:
        paths = ", ".join(_lua_string(p) for p in request.paths)
        lines += [
            f"local paths = {{{paths}}}",
            "local n = 0",
            "request = function()",
            "  n = n + 1",
            "  return wrk.format(nil, paths[(n % #paths) + 1])",
            "end",
        ]
    return "\n".join(lines) + _WRK_DONE


def _wrk(host: str, port: int, request: Request, connections: int, seconds: float) -> Load:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_wrk_script(request))
    try:
        argv = [
            "wrk",
            "-t",
            str(min(2, connections)),
            "-c",
            str(connections),
            "-d",
            f"{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            script.name,
            f"http://{host}:{port}{request.paths[0]}",
        ]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
    finally:
        Path(script.name).unlink()
    for line in done.stdout.splitlines():
        if line.startswith("WRK_RESULT "):
            count, micros, *errors, p50, p99 = (int(x) for x in line.split()[1:])
            return Load(count, micros / 1e6, Latency(p50 / 1e6, p99 / 1e6, count), sum(errors), "wrk")
    message = f"wrk printed no result (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
    raise RuntimeError(message)


# --- the asyncio client ---------------------------------------------------------------


class HTTPError(RuntimeError):
    pass


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One HTTP/1.1 response: its status and body (Content-Length or chunked)."""
    status_line = await reader.readline()
    if not status_line:
        message = "the server closed the connection"
        raise HTTPError(message)
    status = int(status_line.split()[1])
    length = 0
    chunked = False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if not chunked:
        return status, await reader.readexactly(length)
    body = bytearray()
    while True:
        size = int((await reader.readline()).split(b";")[0], 16)
        if size == 0:
            await reader.readline()
            return status, bytes(body)
        body += await reader.readexactly(size)
        await reader.readline()


async def _client_load(host: str, port: int, request: Request, connections: int, seconds: float) -> Load:
    raws = [request.raw(host, port, i) for i in range(len(request.paths))]
    samples: list[float] = []
    failed = 0
    clock = time.perf_counter

    async def worker(k: int) -> None:
        nonlocal failed
        reader, writer = await asyncio.open_connection(host, port)
        await ready.wait()
        i = k
        try:
            while clock() < deadline:
                t0 = clock()
                writer.write(raws[i % len(raws)])
                status, _ = await read_response(reader)
                samples.append(clock() - t0)
                if not 200 <= status < 300:
                    failed += 1
                i += 1
        finally:
            await _close(writer)

    ready = asyncio.Event()
    deadline = float("inf")
    tasks = [asyncio.create_task(worker(k)) for k in range(connections)]
    await asyncio.sleep(0.05)
    start = clock()
    deadline = start + seconds
    ready.set()
    await asyncio.gather(*tasks)
    elapsed = clock() - start
    return Load(len(samples), elapsed, Latency.of(samples), failed, "asyncio client")


Answer = tuple[int, bytes]


async def burst(host: str, port: int, raws: Sequence[bytes], timeout: float = 120) -> tuple[float, list[Answer]]:
    """Send every request at once, each on its own (already open) connection.

    Returns the seconds from the first send to the last answer, and the answers.
    """
    conns = [await asyncio.open_connection(host, port) for _ in raws]

    async def one(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], raw: bytes) -> Answer:
        reader, writer = conn
        writer.write(raw)
        try:
            return await read_response(reader)
        finally:
            await _close(writer)

    start = time.perf_counter()
    answers = await asyncio.wait_for(asyncio.gather(*(one(c, r) for c, r in zip(conns, raws, strict=True))), timeout)
    return time.perf_counter() - start, list(answers)


async def fetch(host: str, port: int, raw: bytes, timeout: float = 60) -> tuple[int, bytes]:
    """One request on a new connection."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(raw)
        return await asyncio.wait_for(read_response(reader), timeout)
    finally:
        await _close(writer)


async def _close(writer: asyncio.StreamWriter) -> None:
    # Wait until the socket is closed: one left to the garbage collector after the loop
    # ends warns (ResourceWarning) in whatever test runs next.
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
