"""The bridge: one per kernel, requests multiplexed and batched, answered whatever the
kernel does (restart, shutdown, crash)."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import time
from typing import Any

import pytest
import zmq
from tornado.simple_httpclient import SimpleAsyncHTTPClient

from .conftest import Kernel, body, invoke, server_test

N = 200


def bridges(kernel: Kernel) -> Any:
    return kernel.serverapp.web_app.settings["notebook_actions"].bridges


@server_test
async def test_one_bridge_per_kernel_reused_by_all_requests(jp_fetch: Any, kernel: Kernel, bare_kernel: Kernel) -> None:
    await invoke(jp_fetch, kernel, "add", {"a": 1})
    bridge = bridges(kernel).get(kernel.id)
    for i in range(5):
        assert body(await invoke(jp_fetch, kernel, "add", {"a": i}))["value"] == i + 2
    await jp_fetch(*kernel.url("actions"))
    assert bridges(kernel).get(kernel.id) is bridge
    assert bridge.is_open
    assert bridge.in_flight == 0  # nothing left behind by answered requests
    assert len(bridges(kernel)) == 1
    # a kernel without the extension keeps no bridge
    assert (await invoke(jp_fetch, bare_kernel, "add", {"a": 1})).code == 404
    assert bare_kernel.id not in bridges(kernel)


@server_test
async def test_200_concurrent_requests_each_get_their_own_answer(
    http_server: Any, kernel: Kernel, jp_http_port: int, jp_base_url: str, jp_auth_header: dict[str, str]
) -> None:
    client = SimpleAsyncHTTPClient(force_instance=True, max_clients=200)
    base = f"http://127.0.0.1:{jp_http_port}{jp_base_url}notebook-actions/api/kernels/{kernel.id}/actions"
    headers = {**jp_auth_header, "Content-Type": "application/json"}

    async def call(i: int) -> Any:
        args: dict[str, Any]
        want: Any
        if i % 3 == 0:  # async, finishing out of order
            name, args, want = "nap", {"seconds": random.uniform(0, 0.3)}, None
        elif i % 3 == 1:
            name, args, want = (
                "echo",
                {"text": f"request {i}", "times": i},
                {"text": f"request {i}", "times": i, "loud": False, "tags": []},
            )
        else:
            name, args, want = "add", {"a": i, "b": -2 * i}, -i
        r = await client.fetch(
            f"{base}/{name}",
            method="POST",
            body=json.dumps(args),
            headers=headers,
            raise_error=False,
            request_timeout=60,
            connect_timeout=60,
        )
        assert r.code == 200, r.body
        value = body(r)["value"]
        assert value == (args["seconds"] if want is None else want)

    try:
        await asyncio.gather(*(call(i) for i in range(N)))
    finally:
        client.close()
    bridge = bridges(kernel).get(kernel.id)
    assert bridge.requests_sent == N
    assert bridge.messages_sent < 200  # requests in flight together shared comm messages


async def pending(jp_fetch: Any, kernel: Kernel, seconds: float) -> asyncio.Future[Any]:
    """A request that is in the kernel (the action runs) when this returns."""
    await invoke(jp_fetch, kernel, "add", {"a": 1})
    task = asyncio.ensure_future(invoke(jp_fetch, kernel, "nap", {"seconds": seconds}))
    bridge = bridges(kernel).get(kernel.id)
    for _ in range(100):
        if any(call.started for call in bridge._calls.values()):
            break
        await asyncio.sleep(0.02)
    return task


@server_test
async def test_restart_mid_request_answers_503(jp_fetch: Any, kernel: Kernel) -> None:
    task = await pending(jp_fetch, kernel, 60)
    started = time.monotonic()
    await jp_fetch("api", "kernels", kernel.id, "restart", method="POST", body="")
    r = await asyncio.wait_for(task, 30)
    assert r.code == 503
    assert "restart" in body(r)["message"]
    assert time.monotonic() - started < 20
    # the restarted kernel has not loaded the extension
    r = await invoke(jp_fetch, kernel, "add", {"a": 1})
    assert r.code == 404
    assert "%load_ext notebook_actions" in body(r)["message"]


@server_test
async def test_shutdown_mid_request_answers_503(jp_fetch: Any, kernel: Kernel) -> None:
    task = await pending(jp_fetch, kernel, 60)
    await jp_fetch("api", "kernels", kernel.id, method="DELETE")
    r = await asyncio.wait_for(task, 30)
    assert r.code == 503
    assert kernel.id not in bridges(kernel)  # torn down with its kernel
    r = await invoke(jp_fetch, kernel, "add", {"a": 1})
    assert r.code == 404
    assert "no running kernel" in body(r)["message"]


@server_test
async def test_kernel_crash_mid_request_answers_503(jp_fetch: Any, kernel: Kernel) -> None:
    task = await pending(jp_fetch, kernel, 60)
    manager = kernel.serverapp.kernel_manager.get_kernel(kernel.id)
    await manager.provisioner.send_signal(signal.SIGKILL)
    r = await asyncio.wait_for(task, 30)
    assert r.code == 503
    assert "died" in body(r)["message"] or "restart" in body(r)["message"]
    # the server restarts it; the new process has not loaded the extension
    for _ in range(100):
        r = await invoke(jp_fetch, kernel, "add", {"a": 1})
        if r.code == 404:
            break
        await asyncio.sleep(0.2)
    assert "%load_ext notebook_actions" in body(r)["message"]


@pytest.mark.parametrize(
    "jp_server_config",
    [{"ServerApp": {"jpserver_extensions": {"notebook_actions": True}}, "KernelRestarter": {"restart_limit": 0}}],
)
@server_test
async def test_kernel_death_mid_request_answers_503(jp_fetch: Any, kernel: Kernel) -> None:
    # The server gives up on a kernel that dies (no restarts allowed here).
    task = await pending(jp_fetch, kernel, 60)
    manager = kernel.serverapp.kernel_manager.get_kernel(kernel.id)
    await manager.provisioner.send_signal(signal.SIGKILL)
    r = await asyncio.wait_for(task, 30)
    assert r.code == 503
    assert "died" in body(r)["message"]
    assert kernel.id not in bridges(kernel)
    for _ in range(50):
        if kernel.id not in kernel.serverapp.kernel_manager:
            break
        await asyncio.sleep(0.1)
    r = await invoke(jp_fetch, kernel, "add", {"a": 1})
    assert r.code == 404


@server_test
async def test_other_subscribers_do_not_look_like_a_restart(jp_fetch: Any, kernel: Kernel) -> None:
    assert (await invoke(jp_fetch, kernel, "add", {"a": 1})).code == 200
    bridge = bridges(kernel).get(kernel.id)
    # Another client subscribes to a topic ours covers: the kernel greets that one.
    manager = kernel.serverapp.kernel_manager.get_kernel(kernel.id)
    client = manager.client()
    sock = client.connect_iopub()
    sock.setsockopt(zmq.SUBSCRIBE, b"kernel.someone-else")
    try:
        await asyncio.sleep(0.5)
        assert (await invoke(jp_fetch, kernel, "add", {"a": 2})).code == 200
        assert bridges(kernel).get(kernel.id) is bridge
        assert bridge.closed is None
    finally:
        sock.close(linger=0)
        client.context.destroy(linger=0)
