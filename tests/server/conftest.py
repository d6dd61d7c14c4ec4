"""A real jupyter server (pytest-jupyter, base URL ``/a%40b/``) with the extension, and
real kernels started through it with the test actions below loaded."""

from __future__ import annotations

import asyncio
import functools
import json
import textwrap
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_core.utils import ensure_event_loop

# pytest-jupyter's fixtures and hooks (it has no entry point, and pytest refuses
# `pytest_plugins` in a conftest below the top level).
from pytest_jupyter.jupyter_server import *  # noqa: F403
from traitlets.config import Config

ACTIONS = '''
%%use_server
import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Annotated

from notebook_actions import Progress, Secret, UploadedFile

API_KEY = "global-SECRET-1"
_seen = {"cancelled": 0, "closed": 0, "napping": 0}


def add(a: int, b: int = 2) -> int:
    """Add two numbers."""
    return a + b


@dataclass
class Point:
    x: int
    y: int


@dataclass
class Strict:
    n: int

    def __post_init__(self) -> None:
        if self.n < 0:
            raise TypeError(f"negative, and {API_KEY}")


def strict(s: Strict) -> int:
    return s.n


def manhattan(p: Point, q: Point | None = None) -> Point:
    q = q or Point(0, 0)
    return Point(abs(p.x - q.x), abs(p.y - q.y))


def echo(text: str, times: int = 1, loud: bool = False, tags: list[str] = []) -> dict:
    return {"text": text, "times": times, "loud": loud, "tags": tags}


def fail(why: str = "boom") -> int:
    raise ValueError(f"{why}: {API_KEY}")


def weird() -> object:
    return object()


async def nap(seconds: float) -> float:
    _seen["napping"] += 1  # so that a test can wait until a nap has begun
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        _seen["cancelled"] += 1
        raise
    return seconds


def block(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def count(n: int) -> Iterator[int]:
    yield from range(n)


async def ticks(n: int, delay: float = 0.0) -> AsyncIterator[str]:
    try:
        for i in range(n):
            await asyncio.sleep(delay)
            yield f"tick {i}"
    finally:
        _seen["closed"] += 1


async def stall(seconds: float) -> AsyncIterator[str]:
    try:
        yield "first"
        await asyncio.sleep(seconds)
        yield "late"
    finally:
        _seen["closed"] += 1


def steps(n: int) -> Iterator[object]:
    for i in range(n):
        yield Progress(i + 1, n, "step")
    yield "done"


def flaky(n: int) -> Iterator[int]:
    yield from range(n)
    raise RuntimeError(f"stream broke: {API_KEY}")


def raw(n: int) -> bytes:
    return bytes(range(256)) * n


def digest(file: UploadedFile, label: str = "") -> dict:
    data = file.read()
    return {"name": file.name, "content_type": file.content_type, "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(), "label": label}


def checksum(file: UploadedFile) -> dict:
    hasher = hashlib.sha256()
    while chunk := file.read(1 << 20):
        hasher.update(chunk)
    return {"name": file.name, "size": file.size, "sha256": hasher.hexdigest()}


def digests(files: list[UploadedFile]) -> list[dict]:
    return [digest(f) for f in files]


def login(user: str, password: Annotated[str, Secret] = "default-SECRET-2") -> str:
    return f"hello {user}" if password else "no"


def seen() -> dict:
    return dict(_seen)
'''

INLINE = """
def make_inline():
    token = "closure-SECRET-3"

    def hidden(x: int) -> int:
        'use server'
        return x + len(token)

    return hidden

hidden = make_inline()
"""


def server_test(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test on pytest-jupyter's event loop, where the server runs.

    The suite runs pytest-asyncio in auto mode, which would run a bare ``async def``
    test on a loop of its own, where the server never answers.
    """

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        # The loop pytest-jupyter's jp_asyncio_loop made (jupyter_core caches it): asking
        # asyncio's policy instead fails after another module's asyncio.run() unset it.
        loop = ensure_event_loop(prefer_selector_loop=True)
        loop.run_until_complete(test(*args, **kwargs))

    return run


SECRETS = ("global-SECRET-1", "default-SECRET-2", "closure-SECRET-3")


@pytest.fixture
def notebook_actions_config() -> dict[str, Any]:
    """``c.NotebookActions`` for the test; override with ``@pytest.mark.parametrize``."""
    return {}


@pytest.fixture  # type: ignore[no-redef]  # replaces pytest-jupyter's, imported above
def jp_server_config(notebook_actions_config: dict[str, Any]) -> Config:
    return Config(
        {
            "ServerApp": {"jpserver_extensions": {"notebook_actions": True}},
            "NotebookActions": notebook_actions_config,
        }
    )


async def execute(serverapp: Any, kernel_id: str, code: str, timeout: float = 60) -> list[dict[str, Any]]:
    """Run test code in a kernel through its own client; raise if the cell failed."""
    client: AsyncKernelClient = serverapp.kernel_manager.get_kernel(kernel_id).client()
    client.start_channels()
    outputs: list[dict[str, Any]] = []
    try:
        await client.wait_for_ready(timeout=timeout)
        reply = await client.execute_interactive(
            textwrap.dedent(code), timeout=timeout, output_hook=lambda msg: outputs.append(msg["content"])
        )
    finally:
        client.stop_channels()
        client.context.destroy(linger=0)
    if reply["content"]["status"] != "ok":
        message = f"cell failed: {reply['content'].get('ename')}: {reply['content'].get('evalue')}\n{outputs}"
        raise AssertionError(message)
    return outputs


@dataclass
class Kernel:
    id: str
    serverapp: Any
    loop: asyncio.AbstractEventLoop

    async def run(self, code: str) -> list[dict[str, Any]]:
        return await execute(self.serverapp, self.id, code)

    def url(self, *parts: str) -> tuple[str, ...]:
        """jp_fetch path parts of a route of this kernel."""
        return ("notebook-actions", "api", "kernels", self.id, *parts)


def start_kernel(jp_serverapp: Any, loop: asyncio.AbstractEventLoop, *setup: str, **launch: Any) -> str:
    async def start() -> str:
        kid: str = await jp_serverapp.kernel_manager.start_kernel(kernel_name="python3", **launch)
        for code in setup:
            await execute(jp_serverapp, kid, code)
        return kid

    return loop.run_until_complete(start())


def stop_kernel(jp_serverapp: Any, loop: asyncio.AbstractEventLoop, kid: str) -> None:
    if kid in jp_serverapp.kernel_manager:
        loop.run_until_complete(jp_serverapp.kernel_manager.shutdown_kernel(kid, now=True))


@pytest.fixture
def bare_kernel(jp_serverapp: Any, jp_asyncio_loop: asyncio.AbstractEventLoop) -> Iterator[Kernel]:
    """A kernel started through the server, without notebook-actions loaded."""
    kid = start_kernel(jp_serverapp, jp_asyncio_loop)
    yield Kernel(kid, jp_serverapp, jp_asyncio_loop)
    stop_kernel(jp_serverapp, jp_asyncio_loop, kid)


@pytest.fixture
def logged_kernel(
    jp_serverapp: Any, jp_asyncio_loop: asyncio.AbstractEventLoop, tmp_path: Any
) -> Iterator[tuple[Kernel, Any]]:
    """Like ``kernel``, with the kernel's stderr (its log) going to a file."""
    log = tmp_path / "kernel.log"
    with log.open("wb") as stderr:
        kid = start_kernel(jp_serverapp, jp_asyncio_loop, "%load_ext notebook_actions", ACTIONS, stderr=stderr)
        yield Kernel(kid, jp_serverapp, jp_asyncio_loop), log
        stop_kernel(jp_serverapp, jp_asyncio_loop, kid)


@pytest.fixture
def kernel(jp_serverapp: Any, jp_asyncio_loop: asyncio.AbstractEventLoop) -> Iterator[Kernel]:
    """A kernel started through the server, with the test actions exported."""
    kid = start_kernel(jp_serverapp, jp_asyncio_loop, "%load_ext notebook_actions", ACTIONS, INLINE)
    yield Kernel(kid, jp_serverapp, jp_asyncio_loop)
    stop_kernel(jp_serverapp, jp_asyncio_loop, kid)


def body(response: Any) -> Any:
    return json.loads(response.body)


JSON = {"Content-Type": "application/json"}


def multipart(
    fields: list[tuple[str, str]],
    files: list[tuple[str, str, str, bytes]],
    boundary: str = "----notebook-actions-test-7d2c",
) -> tuple[bytes, dict[str, str]]:
    """A multipart/form-data body as a browser sends it: (field, value) and
    (field, filename, content type, data)."""
    out = bytearray()
    for name, value in fields:
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value.encode() + b"\r\n"
    for name, filename, content_type, data in files:
        out += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


async def raw_post(
    port: int, path: str, auth: str, args: dict[str, Any], accept: str = "application/json"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """POST ``args`` by hand on a connection of its own, for tests where the client leaves
    (closes the writer) while the action runs."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    data = json.dumps(args).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {auth}\r\n"
        f"Content-Type: application/json\r\nAccept: {accept}\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    writer.write(head.encode() + data)
    await writer.drain()
    return reader, writer


async def invoke(jp_fetch: Any, kernel: Kernel, name: str, args: Any = None, **kwargs: Any) -> Any:
    """POST JSON arguments to an action; the response, whatever its status."""
    headers = {**JSON, **kwargs.pop("headers", {})}
    data = kwargs.pop("body", None)
    if data is None:
        data = json.dumps({} if args is None else args)
    return await jp_fetch(
        *kernel.url("actions", name), method="POST", body=data, headers=headers, raise_error=False, **kwargs
    )


# Real gateways on loopback and a kernel on one (last: the module uses this one's helpers).
from ._gateways import enterprise_gateway, kernel_gateway, legacy_kernel_gateway, remote_kernel  # noqa: E402, F401
