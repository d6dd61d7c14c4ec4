"""Threadsafe actions over HTTP while a cell runs: the server's bridge sends on a subshell
of its own, so they answer at once; plain actions wait for the cell (or 503, naming the
opt-in)."""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typing_extensions import Self

from notebook_actions.server._errors import KernelGone

from .conftest import ACTIONS, Kernel, body, invoke, raw_post, server_test, start_kernel, stop_kernel

THREADSAFE = """
%%use_server --threadsafe
import asyncio, threading

started, cancelled = [], []  # naps that started, and were cancelled (list.append is atomic)


def where(i: int) -> dict:
    return {"i": i, "main_thread": threading.current_thread() is threading.main_thread(), "phase": phase}


async def tnap(seconds: float) -> float:
    started.append(seconds)
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        cancelled.append(seconds)
        raise
    return seconds


def tcount(n: int):
    yield from range(n)


def tseen() -> dict:
    return {"started": len(started), "cancelled": len(cancelled)}
"""

PLAIN = """
%%use_server
def plain() -> str:
    return phase
"""


@pytest.fixture
def kernel(jp_serverapp: Any, jp_asyncio_loop: asyncio.AbstractEventLoop) -> Iterator[Kernel]:
    setup = ("%load_ext notebook_actions", ACTIONS, "phase = 'before'", THREADSAFE, PLAIN)
    kid = start_kernel(jp_serverapp, jp_asyncio_loop, *setup)
    yield Kernel(kid, jp_serverapp, jp_asyncio_loop)
    stop_kernel(jp_serverapp, jp_asyncio_loop, kid)


class RunningCell:
    """A cell that runs until the test releases it (files, not a fixed sleep)."""

    def __init__(self, kernel: Kernel, folder: Path) -> None:
        self.started = folder / "started"
        self.release = folder / "release"
        code = (
            "import os, time\n"
            f"open({str(self.started)!r}, 'w').close()\n"
            f"while not os.path.exists({str(self.release)!r}):\n"
            "    time.sleep(0.01)\n"
            "phase = 'after'\n"
        )
        self.task = asyncio.ensure_future(kernel.run(code))

    async def __aenter__(self) -> Self:
        for _ in range(6000):
            if self.started.exists():
                return self
            assert not self.task.done(), self.task
            await asyncio.sleep(0.01)
        raise AssertionError("the cell did not start")

    async def __aexit__(self, *exc: object) -> None:
        self.release.touch()
        await self.task

    @property
    def running(self) -> bool:
        return not self.release.exists() and not self.task.done()


@pytest.fixture
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


@server_test
async def test_a_threadsafe_action_answers_while_a_cell_runs_a_plain_one_after_it(
    jp_fetch: Any, kernel: Kernel, folder: Path
) -> None:
    async with RunningCell(kernel, folder) as cell:
        plain = asyncio.ensure_future(invoke(jp_fetch, kernel, "plain"))
        r = await invoke(jp_fetch, kernel, "where", {"i": 1})
        assert r.code == 200, body(r)
        assert body(r)["value"] == {"i": 1, "main_thread": False, "phase": "before"}
        assert cell.running and not plain.done()
    r = await plain
    assert r.code == 200 and body(r)["value"] == "after"  # it ran after the cell


@pytest.mark.parametrize("notebook_actions_config", [{"timeout": 1.0}])
@server_test
async def test_a_plain_action_past_the_timeout_is_503_naming_the_opt_in(
    jp_fetch: Any, kernel: Kernel, folder: Path
) -> None:
    async with RunningCell(kernel, folder) as cell:
        r = await invoke(jp_fetch, kernel, "plain")
        assert cell.running
    assert r.code == 503
    message = body(r)["message"]
    assert "waiting for the running cell to finish" in message
    assert "%%use_server --threadsafe" in message and "@action(threadsafe=True)" in message


@server_test
async def test_50_concurrent_threadsafe_calls_while_a_cell_runs(jp_fetch: Any, kernel: Kernel, folder: Path) -> None:
    async with RunningCell(kernel, folder) as cell:
        responses = await asyncio.gather(*(invoke(jp_fetch, kernel, "where", {"i": i}) for i in range(50)))
        assert cell.running
    assert [r.code for r in responses] == [200] * 50
    assert [body(r)["value"]["i"] for r in responses] == list(range(50))  # none crossed, none lost


@server_test
async def test_streams_and_listing_while_a_cell_runs(jp_fetch: Any, kernel: Kernel, folder: Path) -> None:
    async with RunningCell(kernel, folder) as cell:
        r = await invoke(jp_fetch, kernel, "tcount", {"n": 3})
        assert body(r)["value"] == [0, 1, 2], body(r)
        assert cell.running
    r = await jp_fetch(*kernel.url("actions"), method="GET")
    flags = {action["name"]: action.get("threadsafe") for action in body(r)["actions"]}
    assert flags["where"] is True and flags["plain"] is False


@server_test
async def test_a_client_that_leaves_cancels_a_threadsafe_action_while_a_cell_runs(
    jp_fetch: Any, kernel: Kernel, folder: Path, jp_http_port: int, jp_base_url: str, jp_auth_header: dict[str, str]
) -> None:
    async with RunningCell(kernel, folder) as cell:
        path = f"{jp_base_url}notebook-actions/api/kernels/{kernel.id}/actions/tnap"
        _reader, writer = await raw_post(jp_http_port, path, jp_auth_header["Authorization"], {"seconds": 60})
        await _until(jp_fetch, kernel, "started")  # the nap runs (beside the cell)
        writer.close()  # the client leaves: the cancel reaches the nap while the cell still runs
        await _until(jp_fetch, kernel, "cancelled")
        assert cell.running


async def _until(jp_fetch: Any, kernel: Kernel, key: str) -> None:
    for _ in range(400):
        if body(await invoke(jp_fetch, kernel, "tseen"))["value"][key] == 1:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"no nap {key}")


async def _subshells_and_comms(kernel: Kernel) -> tuple[list[str], int]:
    """The kernel's subshells, and how many notebook-actions comms it holds (a cell asks)."""
    client = kernel.serverapp.kernel_manager.get_kernel(kernel.id).client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=60)
        client.control_channel.send(client.session.msg("list_subshell_request", {}))
        reply = await client.get_control_msg(timeout=30)
    finally:
        client.stop_channels()
        client.context.destroy(linger=0)
    outputs = await kernel.run(
        "from comm import get_comm_manager\n"
        "print(sum(c.target_name == 'notebook_actions' for c in get_comm_manager().comms.values()))"
    )
    printed = "".join(output.get("text", "") for output in outputs if output.get("name") == "stdout")
    return list(reply["content"]["subshell_id"]), int(printed)


@server_test
async def test_the_bridge_opens_one_subshell_and_leaves_nothing_behind(jp_fetch: Any, kernel: Kernel) -> None:
    assert (await invoke(jp_fetch, kernel, "where", {"i": 1})).code == 200
    bridge = kernel.serverapp.web_app.settings["notebook_actions"].bridges.get(kernel.id)
    subshells, comms = await _subshells_and_comms(kernel)
    assert subshells == [bridge.subshell_id] and comms == 1
    bridge.close(KernelGone("closed by the test"))
    for _ in range(100):  # the kernel handles the close on its own time
        subshells, comms = await _subshells_and_comms(kernel)
        if not subshells and not comms:
            break
        await asyncio.sleep(0.02)
    assert (subshells, comms) == ([], 0)
    # The next request opens a new bridge, on a new subshell.
    assert body(await invoke(jp_fetch, kernel, "where", {"i": 2}))["value"]["main_thread"] is False


@server_test
async def test_a_thread_bound_object_is_a_500_with_a_digest_and_a_hint_in_the_kernel_log(
    jp_fetch: Any, logged_kernel: tuple[Kernel, Any]
) -> None:
    kernel, log = logged_kernel
    await kernel.run("import sqlite3\ndb = sqlite3.connect(':memory:')  # made in a cell: bound to the main thread\n")
    await kernel.run(
        "%%use_server --threadsafe\ndef query() -> int:\n    return db.execute('select 1').fetchone()[0]\n"
    )
    r = await invoke(jp_fetch, kernel, "query")
    assert r.code == 500
    answer = body(r)
    assert answer["type"] == "ProgrammingError" and answer["digest"]
    assert "Hint" not in json.dumps(answer)  # for the notebook's owner, not HTTP callers
    for _ in range(100):
        text = log.read_text()
        if answer["digest"] in text:
            break
        await asyncio.sleep(0.05)
    assert f"action 'query' raised ProgrammingError (digest {answer['digest']})" in text
    assert "open the connection inside the action" in text and "drop threadsafe" in text
