"""MCP through a served notebook's pool: the SDK's own client against a real server that
serves a notebook with two kernels. Each tool call holds one kernel of the pool for as long
as it runs, so the pool's least-busy routing counts it, and lets go when it ends, is
cancelled or its connection goes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import MCPError

from notebook_actions.server.serving import _pool

from .conftest import server_test
from .test_mcp import BOTH, CRAWL, INIT, connect, text
from .test_serve import (  # noqa: F401 (fixtures)
    APP,
    BROKEN,
    Fetch,
    Served,
    app,
    broken,
    cells,
    gated,
    kernel_pid,
    notebook_actions_config,
    served,
    states,
    status,
    wait_for,
)

STEPS = """
%%use_server
from collections.abc import Iterator

from notebook_actions import Progress


def steps(n: int) -> Iterator[object]:
    for i in range(n):
        yield Progress(i + 1, n, "step")
    yield "done"
"""

POOLED = Served(notebooks={APP: [*app(), *cells(STEPS, CRAWL)]})


def in_flight(now: dict[str, Any]) -> list[int]:
    return sorted(kernel["in_flight"] for kernel in now[APP]["kernels"])


@pytest.fixture
def base(http_server: Any, jp_http_port: int, jp_base_url: str) -> str:
    return f"http://127.0.0.1:{jp_http_port}{jp_base_url}notebook-actions/mcp"


@pytest.fixture
def app_url(base: str) -> str:
    return f"{base}/notebooks/{APP}"


@pytest.fixture
def bearer(jp_serverapp: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {jp_serverapp.identity_provider.token}"}


@pytest.mark.parametrize("served", [POOLED])
@server_test
async def test_list_call_and_progress_answer_from_the_pool(
    jp_fetch: Fetch,
    jp_root_dir: Path,
    app_url: str,
    bearer: dict[str, str],
) -> None:
    await wait_for(jp_fetch, lambda now: states(now) == ["ready", "ready"])
    reported: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        reported.append((progress, total, message))

    async with connect(app_url, bearer) as session:
        tools = {tool.name for tool in (await session.list_tools()).tools}
        assert {"pid", "cwd", "version", "hold", "steps", "crawl"} <= tools
        assert (await session.call_tool("version", {})).structured_content == {"result": "v1"}
        # primed in the notebook's folder, like every kernel of the pool
        assert (await session.call_tool("cwd", {})).structured_content == {"result": str(jp_root_dir / "apps")}
        result = await session.call_tool("steps", {"n": 3}, progress_callback=on_progress)
        assert result.structured_content == {"result": ["done"]}
        assert reported == [(1, 3, "step"), (2, 3, "step"), (3, 3, "step")]
        # one call after another: each goes to the kernel idle longest, so both take turns
        pids = [(await session.call_tool("pid", {})).structured_content for _ in range(4)]
        assert len({json.dumps(pid) for pid in pids}) == 2
    assert in_flight(await status(jp_fetch)) == [0, 0]


@pytest.mark.parametrize("served", [POOLED])
@server_test
async def test_a_call_holds_its_kernel_so_the_next_calls_go_to_the_other(
    jp_fetch: Fetch,
    jp_serverapp: Any,
    app_url: str,
    bearer: dict[str, str],
    tmp_path: Path,
) -> None:
    now = await wait_for(jp_fetch, lambda now: states(now) == ["ready", "ready"])
    pids = {kernel_pid(jp_serverapp, k["id"]): k["id"] for k in now[APP]["kernels"]}
    flag = tmp_path / "release"
    async with connect(app_url, bearer) as session:
        holding = asyncio.ensure_future(session.call_tool("hold", {"flag": str(flag)}))
        try:
            # The MCP call is in flight on one kernel, as the status shows ...
            now = await wait_for(jp_fetch, lambda now: in_flight(now) == [0, 1])
            busy = next(k["id"] for k in now[APP]["kernels"] if k["in_flight"] == 1)
            # ... and every call meanwhile goes to the other one.
            answered = [(await session.call_tool("pid", {})).structured_content for _ in range(3)]
            assert not holding.done()
            assert {pids[a["result"]] for a in answered} == set(pids.values()) - {busy}
        finally:
            flag.touch()
        held = await holding
        assert held.is_error is not True and pids[held.structured_content["result"]] == busy
    # both leases let go once the calls ended
    assert in_flight(await status(jp_fetch)) == [0, 0]


@pytest.mark.parametrize("served", [POOLED])
@server_test
async def test_a_cancelled_call_lets_go_of_its_kernel(
    jp_fetch: Fetch,
    app_url: str,
    bearer: dict[str, str],
) -> None:
    await wait_for(jp_fetch, lambda now: states(now) == ["ready", "ready"])
    started = asyncio.Event()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        started.set()

    async with connect(app_url, bearer) as session:
        async with anyio.create_task_group() as group:
            group.start_soon(lambda: session.call_tool("crawl", {"pages": 5}, progress_callback=on_progress))
            await started.wait()  # running in a kernel of the pool, which counts it
            assert in_flight(await status(jp_fetch)) == [0, 1]
            group.cancel_scope.cancel()  # the client sends notifications/cancelled
        await wait_for(jp_fetch, lambda now: in_flight(now) == [0, 0], timeout=30)
        assert (await session.call_tool("version", {})).structured_content == {"result": "v1"}


def events(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line[len("data:") :]) for line in lines if line.startswith("data:") and line[5:].strip()]


@pytest.mark.parametrize("served", [POOLED])
@server_test
async def test_a_call_whose_client_disconnects_lets_go_of_its_kernel(
    jp_fetch: Fetch,
    app_url: str,
    bearer: dict[str, str],
) -> None:
    await wait_for(jp_fetch, lambda now: states(now) == ["ready", "ready"])
    headers = {**bearer, "Accept": BOTH, "Content-Type": "application/json"}
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
        response = await http.post(app_url, content=json.dumps(INIT))
        assert response.status_code == 200
        session_headers = {
            "Mcp-Session-Id": response.headers["Mcp-Session-Id"],
            "MCP-Protocol-Version": INIT["params"]["protocolVersion"],  # type: ignore[index]
        }
        initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        assert (await http.post(app_url, content=json.dumps(initialized), headers=session_headers)).is_success
        call = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "crawl", "arguments": {"pages": 5}, "_meta": {"progressToken": "p"}},
        }
        async with http.stream("POST", app_url, content=json.dumps(call), headers=session_headers) as stream:
            assert stream.status_code == 200
            # (the lines' iterator kept: one left to the garbage collector would close the stream)
            lines = stream.aiter_lines()
            seen: list[str] = []
            while not any(e.get("method") == "notifications/progress" for e in events(seen)):
                seen.append(await anext(lines))
            # the action runs in a kernel of the pool, which counts it until the client hangs up
            assert in_flight(await status(jp_fetch)) == [0, 1]
    await wait_for(jp_fetch, lambda now: in_flight(now) == [0, 0], timeout=30)
    # and the action was cancelled in its kernel (two calls in a row: one on each kernel)
    async with connect(app_url, bearer) as session:
        for _ in range(100):
            seen_by_kernels = [(await session.call_tool("crawl_seen", {})).structured_content for _ in range(2)]
            if sum(seen["cancelled"] for seen in seen_by_kernels) > 0:
                break
            await asyncio.sleep(0.05)
    assert sorted(seen["cancelled"] for seen in seen_by_kernels) == [0, 1], seen_by_kernels


@pytest.mark.parametrize("served", [POOLED])
@server_test
async def test_after_a_kernel_is_killed_calls_succeed_on_the_other(
    jp_fetch: Fetch,
    jp_serverapp: Any,
    app_url: str,
    bearer: dict[str, str],
    tmp_path: Path,
) -> None:
    await wait_for(jp_fetch, lambda now: states(now) == ["ready", "ready"])
    async with connect(app_url, bearer) as session:
        holding = asyncio.ensure_future(session.call_tool("hold", {"flag": str(tmp_path / "never")}))
        now = await wait_for(jp_fetch, lambda now: in_flight(now) == [0, 1])
        doomed = next(k["id"] for k in now[APP]["kernels"] if k["in_flight"] == 1)
        survivor = next(k["id"] for k in now[APP]["kernels"] if k["id"] != doomed)
        survivor_pid = kernel_pid(jp_serverapp, survivor)
        os.kill(kernel_pid(jp_serverapp, doomed), signal.SIGKILL)
        # The call in flight on it fails with a message, once the server notices ...
        held = await holding
        assert held.is_error is True and text(held)
        # ... and from then on every call succeeds, on the other kernel.
        answered = [await session.call_tool("pid", {}) for _ in range(5)]
        assert [a.structured_content for a in answered] == [{"result": survivor_pid}] * 5


@pytest.mark.parametrize("served", [Served(notebooks={BROKEN: broken()}, kernels=1, options={"timeout": 5})])
@server_test
async def test_a_failed_prime_is_what_the_client_hears(
    jp_fetch: Fetch,
    base: str,
    bearer: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_pool, "RETRY_FIRST_SECONDS", 600.0)
    await wait_for(jp_fetch, lambda now: states(now, BROKEN) == ["failed"])
    async with connect(f"{base}/notebooks/{BROKEN}", bearer) as session:
        with pytest.raises(MCPError) as listing:
            await session.list_tools()
        assert "cell 4" in str(listing.value) and "ZeroDivisionError" in str(listing.value)
        result = await session.call_tool("pid", {})
        assert result.is_error is True
        assert "cell 4" in text(result) and "ZeroDivisionError" in text(result) and "priming" in text(result)
        assert "SECRET" not in text(result)


@pytest.mark.parametrize("served", [Served(notebooks={APP: gated()}, kernels=1, options={"timeout": 1})])
@server_test
async def test_no_ready_kernel_is_an_error_after_the_timeout_not_a_hang(
    jp_fetch: Fetch,
    jp_root_dir: Path,
    app_url: str,
    bearer: dict[str, str],
) -> None:
    await wait_for(jp_fetch, lambda now: states(now) == ["priming"])
    async with connect(app_url, bearer) as session:
        result = await session.call_tool("pid", {})
        assert result.is_error is True
        assert "no kernel" in text(result) and "priming" in text(result) and "try again" in text(result)
        (jp_root_dir / "apps" / "go").touch()
        await wait_for(jp_fetch, lambda now: states(now) == ["ready"])
        assert (await session.call_tool("version", {})).structured_content == {"result": "v1"}
