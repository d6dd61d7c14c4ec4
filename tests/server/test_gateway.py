"""Remote kernels behind --gateway-url: a real jupyter server pointed at a real,
token-protected gateway on loopback: Jupyter Kernel Gateway 3 (jupyter-server 2) with
the v1 websocket protocol and with the legacy one, and Jupyter Enterprise Gateway 3.3
(jupyter-server 1). Everything a local kernel does works the same way, binary data included."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from typing import Any

import pytest

from ._gateways import Gateway, gateway_argv
from .conftest import Kernel, body, invoke, multipart, server_test

SSE = {"Accept": "text/event-stream"}


@pytest.fixture(params=["kernel_gateway", "legacy_kernel_gateway", "enterprise_gateway"])
def gateway(request: pytest.FixtureRequest) -> Gateway:
    gw: Gateway = request.getfixturevalue(request.param)
    return gw


@pytest.fixture
def jp_argv(gateway: Gateway) -> list[str]:
    return gateway_argv(gateway)


async def post(jp_fetch: Any, kernel: Kernel, name: str, payload: bytes, headers: dict[str, str]) -> Any:
    return await jp_fetch(*kernel.url("actions", name), method="POST", body=payload, headers=headers, raise_error=False)


@server_test
async def test_actions_of_a_kernel_behind_a_gateway(
    jp_fetch: Any, jp_serverapp: Any, remote_kernel: Kernel, gateway: Gateway
) -> None:
    assert jp_serverapp.gateway_config.gateway_enabled
    assert jp_serverapp.gateway_config.url == gateway.url
    # listing and OpenAPI
    names = [a["name"] for a in body(await jp_fetch(*remote_kernel.url("actions")))["actions"]]
    assert "add" in names
    assert "/actions/add" in "".join(body(await jp_fetch(*remote_kernel.url("openapi.json")))["paths"])
    # JSON, urlencoded, validation, errors, streams
    assert body(await invoke(jp_fetch, remote_kernel, "add", {"a": 40})) == {"value": 42}
    r = await jp_fetch(
        *remote_kernel.url("actions", "echo"),
        method="POST",
        body="text=hi&times=2",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert body(r)["value"]["times"] == 2
    assert (await invoke(jp_fetch, remote_kernel, "add", {"a": "x"})).code == 422
    r = await invoke(jp_fetch, remote_kernel, "fail", {})
    assert r.code == 500
    assert body(r)["type"] == "ValueError"
    assert (await invoke(jp_fetch, remote_kernel, "nope")).code == 404
    r = await invoke(jp_fetch, remote_kernel, "ticks", {"n": 2}, headers=SSE)
    assert r.body.count(b"event: chunk") == 2
    assert body(await invoke(jp_fetch, remote_kernel, "count", {"n": 3})) == {"value": [0, 1, 2]}
    # concurrent requests share the one bridge
    results = await asyncio.gather(*(invoke(jp_fetch, remote_kernel, "add", {"a": i, "b": i}) for i in range(20)))
    assert [body(r)["value"] for r in results] == [2 * i for i in range(20)]
    bridges = jp_serverapp.web_app.settings["notebook_actions"].bridges
    assert len(bridges) == 1
    # over the protocol the gateway picked
    assert bridges.get(remote_kernel.id)._transport._socket.protocol == gateway.protocol


@pytest.mark.parametrize("notebook_actions_config", [{"upload_chunk_bytes": 64 * 1024}])
@server_test
async def test_files_and_bytes_travel_through_a_gateway(jp_fetch: Any, remote_kernel: Kernel) -> None:
    # a small file travels with the invocation, a large one in chunks
    small, big = os.urandom(1000), os.urandom(300_000)
    for data in (small, big):
        payload, headers = multipart([("label", "l")], [("file", "a.bin", "application/x-test", data)])
        r = await post(jp_fetch, remote_kernel, "digest", payload, headers)
        assert r.code == 200, r.body
        value = body(r)["value"]
        assert (value["size"], value["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
        assert (value["content_type"], value["label"]) == ("application/x-test", "l")
    # a bytes result is the body, every byte value intact
    r = await invoke(jp_fetch, remote_kernel, "raw", {"n": 3})
    assert r.code == 200
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert r.body == bytes(range(256)) * 3
    # concurrent uploads keep their own files (their buffers share one comm message)
    datas = [os.urandom(2000 + i) for i in range(6)]
    bodies = [multipart([("label", str(i))], [("file", f"{i}.bin", "x/y", d)]) for i, d in enumerate(datas)]
    results = await asyncio.gather(*(post(jp_fetch, remote_kernel, "digest", p, h) for p, h in bodies))
    assert [body(r)["value"]["sha256"] for r in results] == [hashlib.sha256(d).hexdigest() for d in datas]


@server_test
async def test_a_stream_through_a_gateway_arrives_event_by_event(jp_fetch: Any, remote_kernel: Kernel) -> None:
    first = asyncio.get_running_loop().create_future()

    def received(data: bytes) -> None:
        if b"first" in data and not first.done():
            first.set_result(None)

    # the generator yields once, then waits a minute: its first event must arrive meanwhile
    request = asyncio.ensure_future(
        invoke(jp_fetch, remote_kernel, "stall", {"seconds": 60}, headers=SSE, streaming_callback=received)
    )
    await asyncio.wait_for(first, 30)
    assert not request.done()
    request.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await request
    r = await invoke(jp_fetch, remote_kernel, "steps", {"n": 3}, headers=SSE)
    assert r.headers["Content-Type"].startswith("text/event-stream")
    assert r.body.count(b"event: progress") == 3
    assert b'"value": "done"' in r.body or b'"value":"done"' in r.body


@server_test
async def test_a_request_in_flight_when_the_remote_kernel_is_shut_down(
    jp_fetch: Any, jp_serverapp: Any, remote_kernel: Kernel
) -> None:
    assert body(await invoke(jp_fetch, remote_kernel, "add", {"a": 1})) == {"value": 3}
    task = asyncio.ensure_future(invoke(jp_fetch, remote_kernel, "nap", {"seconds": 60}))
    bridges = jp_serverapp.web_app.settings["notebook_actions"].bridges
    while not any(call.started for call in bridges.get(remote_kernel.id)._calls.values()):
        await asyncio.sleep(0.05)  # until the kernel has begun the nap
    await jp_fetch("api", "kernels", remote_kernel.id, method="DELETE")
    r = await asyncio.wait_for(task, 30)
    assert r.code == 503
    assert remote_kernel.id not in bridges


@server_test
async def test_many_clients_with_files_at_once_through_a_gateway(jp_fetch: Any, remote_kernel: Kernel) -> None:
    # each file travels with its invocation (under a chunk); together they exceed the
    # gateway's websocket message limit (10 MiB)
    datas = [os.urandom(3_000_000 + i) for i in range(6)]
    bodies = [multipart([("label", str(i))], [("file", f"{i}.bin", "x/y", d)]) for i, d in enumerate(datas)]
    results = await asyncio.gather(*(post(jp_fetch, remote_kernel, "digest", p, h) for p, h in bodies))
    assert [r.code for r in results] == [200] * len(datas), [r.body for r in results]
    assert [body(r)["value"]["sha256"] for r in results] == [hashlib.sha256(d).hexdigest() for d in datas]
