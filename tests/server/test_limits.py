"""Limits that keep one caller from starving the others: the rate limit per caller (429 with
Retry-After over HTTP, a tool error over MCP; another caller's calls all answered while one
floods), and max_waiting (a served notebook without a ready kernel lets only so many requests
wait for one; the next gets 429 at once)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from traitlets.config import Config

from ._served import Response, request, start_serve, write_notebook
from .conftest import body, invoke, server_test
from .test_current_user import NamedUsers, kernel  # noqa: F401 (the kernel fixture)
from .test_mcp import connect

CALLS = 3  # per hour: nothing comes back while the test runs


@pytest.fixture  # replaces conftest's: callers named by their tokens, and a rate limit
def jp_server_config() -> Config:
    return Config(
        {
            "ServerApp": {"jpserver_extensions": {"notebook_actions": True}, "identity_provider_class": NamedUsers},
            "NotebookActions": {"rate_limit": f"{CALLS}/hour"},
        }
    )


@pytest.fixture
def jp_auth_header() -> dict[str, str]:
    return {"Authorization": "token alice-token"}


BOB = {"Authorization": "token bob-token"}


@server_test
async def test_one_caller_flooding_gets_429_and_the_others_calls_are_all_answered(
    jp_fetch: Any,
    kernel: Any,  # noqa: F811 (the fixture imported above)
    http_server: Any,
    jp_http_port: int,
    jp_base_url: str,
) -> None:
    flood = [invoke(jp_fetch, kernel, "whoami") for _ in range(5 * CALLS)]
    others = [invoke(jp_fetch, kernel, "whoami", headers=BOB) for _ in range(CALLS)]
    answers = await asyncio.gather(*flood, *others)  # all at once, interleaved
    alice, bob = answers[: len(flood)], answers[len(flood) :]
    assert [r.code for r in bob] == [200] * CALLS
    assert all(body(r)["value"]["name"] == "bob" for r in bob)
    assert sorted(r.code for r in alice) == [200] * CALLS + [429] * (4 * CALLS)
    refused = next(r for r in alice if r.code == 429)
    wait = int(refused.headers["Retry-After"])
    assert 0 < wait <= 3600 // CALLS
    said = f"too many calls: each caller may make {CALLS} calls per hour; try again in {wait} s"
    assert body(refused)["message"] == said
    # the same caller over MCP: a tool error with the same message
    url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}notebook-actions/mcp/kernels/{kernel.id}"
    async with connect(url, {"Authorization": "Bearer alice-token"}) as session:
        result = await session.call_tool("whoami", {})
    assert result.is_error
    assert said.rsplit(" in ", 1)[0] in str(result.content[0])


def test_a_rate_that_is_not_one_says_the_form() -> None:
    from traitlets import TraitError

    from notebook_actions.server._config import NotebookActions

    with pytest.raises(TraitError, match="as '30/minute'"):
        NotebookActions(rate_limit="thirty a minute")


APP = "app.ipynb"


@pytest.fixture(scope="module")
def flags(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("flags")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, flags: Path) -> Iterator[Any]:
    root = tmp_path_factory.mktemp("root")
    # The prime waits until the test says: until then no kernel is ready.
    write_notebook(
        root / APP,
        f"import pathlib, time\nwhile not pathlib.Path({str(flags / 'prime')!r}).exists():\n    time.sleep(0.02)",
        "%%use_server\ndef ping() -> str:\n    return 'pong'\n",
    )
    server = start_serve(root, tmp_path_factory.mktemp("home"), [APP], "--kernels=1", "--NotebookActions.max_waiting=2")
    yield server
    (flags / "prime").touch()
    server.stop()


def test_past_max_waiting_a_request_gets_429_at_once(served: Any, flags: Path) -> None:
    served.wait_for(lambda: APP in served.status(), "the server")
    answers: list[Response] = []
    waiting = [threading.Thread(target=lambda: answers.append(served.call(APP, "ping"))) for _ in range(2)]
    for thread in waiting:
        thread.start()
    served.wait_for(lambda: served.status()[APP]["waiting"] == 2, "two requests waiting")
    refused = served.call(APP, "ping", timeout=10)
    assert refused.status == 429
    assert refused.headers["retry-after"] == "2"
    message = refused.json()["message"]
    assert message == f"{APP} has no ready kernel and 2 requests already wait for one (max_waiting): try again in 2 s"
    assert request(served.port, "GET", "/notebook-actions/health").status == 503  # it was not ready at all
    (flags / "prime").touch()
    for thread in waiting:
        thread.join(60)
    assert [(a.status, a.json()) for a in answers] == [(200, {"value": "pong"})] * 2
    assert served.status()[APP]["waiting"] == 0


ONE_AT_A_TIME = """
%%use_server
import asyncio, pathlib
from notebook_actions import action

_turns = {"in_flight": 0, "most": 0, "started": 0}


@action(max_concurrency=1)
async def one_at_a_time(release: str) -> int:
    _turns["in_flight"] += 1
    _turns["started"] += 1
    _turns["most"] = max(_turns["most"], _turns["in_flight"])
    try:
        # held until the test releases it (or, without the limit, all three are in)
        while not pathlib.Path(release).exists() and _turns["in_flight"] < 3:
            await asyncio.sleep(0.01)
    finally:
        _turns["in_flight"] -= 1
    return _turns["most"]


def turns() -> dict:
    return _turns
"""


@server_test
async def test_max_concurrency_holds_the_other_calls_until_their_turn(
    jp_fetch: Any, jp_serverapp: Any, jp_asyncio_loop: Any, tmp_path: Path
) -> None:
    from .conftest import Kernel, execute

    kid: str = await jp_serverapp.kernel_manager.start_kernel(kernel_name="python3")
    try:
        for code in ("%load_ext notebook_actions", ONE_AT_A_TIME):
            await execute(jp_serverapp, kid, code)
        kernel = Kernel(kid, jp_serverapp, jp_asyncio_loop)
        listing = body(await jp_fetch(*kernel.url("actions")))["actions"]
        assert {a["name"]: a.get("max_concurrency") for a in listing} == {"one_at_a_time": 1, "turns": None}
        release = tmp_path / "release"
        calls = [
            asyncio.ensure_future(invoke(jp_fetch, kernel, "one_at_a_time", {"release": str(release)}, headers=BOB))
            for _ in range(3)
        ]
        service = jp_serverapp.web_app.settings["notebook_actions"]
        while service.waiting_turns(kid, "one_at_a_time") < 2:  # the server holds two
            await asyncio.sleep(0.01)
        assert body(await invoke(jp_fetch, kernel, "turns"))["value"]["started"] == 1  # one reached the kernel
        release.touch()
        answers = await asyncio.gather(*calls)
        assert [(r.code, body(r)["value"]) for r in answers] == [(200, 1)] * 3  # never two at once
    finally:
        await jp_serverapp.kernel_manager.shutdown_kernel(kid, now=True)
