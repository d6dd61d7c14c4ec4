"""Generator actions: server-sent events when the client accepts them, else one list."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from .conftest import Kernel, body, invoke, raw_post, server_test

SSE = {"Accept": "text/event-stream"}


def events(raw: bytes) -> list[tuple[str, Any]]:
    out = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((fields["event"], json.loads(fields["data"])))
    return out


@server_test
async def test_chunks_as_events_then_end(jp_fetch: Any, kernel: Kernel) -> None:
    r = await invoke(jp_fetch, kernel, "count", {"n": 3}, headers=SSE)
    assert r.code == 200
    assert r.headers["Content-Type"] == "text/event-stream"
    assert r.headers["Cache-Control"] == "no-cache"
    assert events(r.body) == [
        ("chunk", {"seq": 0, "value": 0}),
        ("chunk", {"seq": 1, "value": 1}),
        ("chunk", {"seq": 2, "value": 2}),
        ("end", {}),
    ]


@server_test
async def test_progress_events(jp_fetch: Any, kernel: Kernel) -> None:
    r = await invoke(jp_fetch, kernel, "steps", {"n": 2}, headers=SSE)
    assert events(r.body) == [
        ("progress", {"seq": 0, "value": 1, "total": 2, "message": "step"}),
        ("progress", {"seq": 1, "value": 2, "total": 2, "message": "step"}),
        ("chunk", {"seq": 2, "value": "done"}),
        ("end", {}),
    ]


@server_test
async def test_without_event_stream_the_chunks_come_as_one_list(jp_fetch: Any, kernel: Kernel) -> None:
    assert body(await invoke(jp_fetch, kernel, "count", {"n": 3})) == {"value": [0, 1, 2]}
    assert body(await invoke(jp_fetch, kernel, "steps", {"n": 2})) == {"value": ["done"]}
    assert body(await invoke(jp_fetch, kernel, "count", {"n": 0})) == {"value": []}
    # a plain action answers JSON even to a client that would take a stream
    r = await invoke(jp_fetch, kernel, "add", {"a": 1}, headers=SSE)
    assert r.headers["Content-Type"] == "application/json"
    assert body(r) == {"value": 3}


@server_test
async def test_events_arrive_as_they_are_made(jp_fetch: Any, kernel: Kernel) -> None:
    arrivals: list[tuple[float, bytes]] = []
    started = time.monotonic()
    r = await invoke(
        jp_fetch,
        kernel,
        "ticks",
        {"n": 3, "delay": 0.5},
        headers=SSE,
        streaming_callback=lambda data: arrivals.append((time.monotonic() - started, data)),
    )
    assert r.code == 200
    received = b"".join(data for _, data in arrivals)
    assert [name for name, _ in events(received)] == ["chunk", "chunk", "chunk", "end"]
    first = next(t for t, data in arrivals if b"tick 0" in data)
    last = arrivals[-1][0]
    assert last - first > 0.8  # the first tick came a second before the end


@server_test
async def test_an_error_mid_stream_is_an_error_event(jp_fetch: Any, kernel: Kernel) -> None:
    r = await invoke(jp_fetch, kernel, "flaky", {"n": 1}, headers=SSE)
    got = events(r.body)
    assert got[0] == ("chunk", {"seq": 0, "value": 0})
    name, data = got[1]
    assert name == "error"
    assert data["status"] == 500
    assert data["type"] == "RuntimeError"
    assert len(data["digest"]) == 12
    assert "stream broke" not in r.body.decode()
    r = await invoke(jp_fetch, kernel, "flaky", {"n": 1})
    assert r.code == 500
    assert body(r)["type"] == "RuntimeError"


async def seen(jp_fetch: Any, kernel: Kernel, key: str, want: int) -> int:
    for _ in range(100):
        value: int = body(await invoke(jp_fetch, kernel, "seen"))["value"][key]
        if value >= want:
            return value
        await asyncio.sleep(0.05)
    return value


@server_test
async def test_a_client_that_leaves_cancels_the_stream(
    jp_fetch: Any, kernel: Kernel, jp_http_port: int, jp_base_url: str, jp_auth_header: dict[str, str]
) -> None:
    path = f"{jp_base_url}notebook-actions/api/kernels/{kernel.id}/actions/ticks"
    auth = jp_auth_header["Authorization"]
    args = {"n": 1000, "delay": 0.05}
    reader, writer = await raw_post(jp_http_port, path, auth, args, accept="text/event-stream")
    await asyncio.wait_for(reader.readuntil(b"tick 1"), 10)
    writer.close()
    assert await seen(jp_fetch, kernel, "closed", 1) == 1  # the generator's finally ran


@server_test
async def test_a_client_that_leaves_cancels_the_action(
    jp_fetch: Any, kernel: Kernel, jp_http_port: int, jp_base_url: str, jp_auth_header: dict[str, str]
) -> None:
    path = f"{jp_base_url}notebook-actions/api/kernels/{kernel.id}/actions/nap"
    _reader, writer = await raw_post(jp_http_port, path, jp_auth_header["Authorization"], {"seconds": 60})
    assert await seen(jp_fetch, kernel, "napping", 1) == 1  # the action runs: now leave
    writer.close()
    assert await seen(jp_fetch, kernel, "cancelled", 1) == 1


@pytest.mark.parametrize("notebook_actions_config", [{"timeout": 1.0}])
@server_test
async def test_a_silent_stream_times_out_and_is_cancelled(jp_fetch: Any, kernel: Kernel) -> None:
    r = await invoke(jp_fetch, kernel, "ticks", {"n": 3, "delay": 0.2}, headers=SSE)  # quick ticks: fine
    assert [name for name, _ in events(r.body)] == ["chunk", "chunk", "chunk", "end"]
    # silent from the start: a plain 504, as for any action
    r = await invoke(jp_fetch, kernel, "ticks", {"n": 3, "delay": 3}, headers=SSE)
    assert r.code == 504
    assert await seen(jp_fetch, kernel, "closed", 2) == 2
    # silent after the first event: an error event ends the stream
    r = await invoke(jp_fetch, kernel, "stall", {"seconds": 30}, headers=SSE)
    assert r.code == 200
    got = events(r.body)
    assert got[0] == ("chunk", {"seq": 0, "value": "first"})
    assert got[1][0] == "error"
    assert got[1][1]["status"] == 504
    assert await seen(jp_fetch, kernel, "closed", 3) == 3
