"""Threadsafe actions in a real kernel: they answer while a cell runs, over the server's
comm target and a widget's comm alike, when the messages arrive on a subshell (as the
bridge and JupyterLab send them); plain actions wait for the cell, and say so."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager

from .peer import CommPeer, execute

SETUP = """%load_ext notebook_actions
import asyncio, os, sqlite3, threading, time
from notebook_actions import Form, Progress, action
db = sqlite3.connect(":memory:")  # made in a cell: bound to the main thread
phase = "before"
"""

ACTIONS = """%%use_server --threadsafe
def ping(i: int) -> dict:
    return {"i": i, "thread": threading.current_thread().name, "phase": phase}

async def anap(i: int, seconds: float) -> dict:
    await asyncio.sleep(seconds)
    return {"i": i, "thread": threading.current_thread().name}

async def ticks(n: int):
    for i in range(n):
        yield Progress(i + 1, n, "ticks")
        await asyncio.sleep(0)

def query() -> int:
    return db.execute("select 1").fetchone()[0]
"""

PLAIN = """%%use_server
def plain(i: int) -> dict:
    return {"i": i, "thread": threading.current_thread().name, "phase": phase}
"""


class RunningCell:
    """A cell that runs until the test releases it (files, not a fixed sleep)."""

    def __init__(self, kc: BlockingKernelClient, folder: Path) -> None:
        self.kc = kc
        self.started = folder / "started"
        self.release = folder / "release"
        code = (
            f"open({str(self.started)!r}, 'w').close()\n"
            f"while not os.path.exists({str(self.release)!r}):\n"
            "    time.sleep(0.01)\n"
            "phase = 'after'\n"
        )
        self.msg_id = kc.execute(code)
        deadline = time.monotonic() + 60
        while not self.started.exists():
            assert time.monotonic() < deadline, "the cell did not start"
            time.sleep(0.01)

    def finish(self) -> None:
        self.release.touch()


def new_subshell(kc: BlockingKernelClient) -> str:
    kc.control_channel.send(kc.session.msg("create_subshell_request", {}))
    reply = kc.get_control_msg(timeout=10)
    assert reply["content"]["status"] == "ok", reply["content"]
    return str(reply["content"]["subshell_id"])


def wait_idle(kc: BlockingKernelClient, msg_id: str) -> None:
    """Until the shell replies to ``msg_id`` (the cell finished)."""
    while True:
        msg = kc.get_shell_msg(timeout=60)
        if msg["parent_header"].get("msg_id") == msg_id:
            return


@pytest.fixture
def kc(kernel: KernelManager) -> Iterator[BlockingKernelClient]:
    client = kernel.blocking_client()
    client.start_channels()
    client.wait_for_ready(timeout=60)
    execute(client, SETUP)
    execute(client, ACTIONS)
    execute(client, PLAIN)
    try:
        yield client
    finally:
        client.stop_channels()


@pytest.fixture
def bridge(kc: BlockingKernelClient) -> tuple[CommPeer, str]:
    """A peer like the server's bridge: its comm opened on a subshell of its own."""
    subshell = new_subshell(kc)
    peer = CommPeer(kc)
    assert peer.open(subshell)["kind"] == "ready"
    return peer, subshell


def by_name(rid: str, name: str, **args: Any) -> dict[str, Any]:
    return {"kind": "invoke", "id": rid, "name": name, "args": args}


def test_the_flag_is_on_the_action_and_in_its_info(kc: BlockingKernelClient) -> None:
    out = execute(kc, "import json\nprint(json.dumps([ping.threadsafe, ping.info()['threadsafe'], plain.threadsafe]))")
    assert json.loads(out) == [True, True, False]


def test_a_threadsafe_action_answers_while_a_cell_runs_and_a_plain_one_waits(
    bridge: tuple[CommPeer, str], tmp_path: Path
) -> None:
    peer, subshell = bridge
    cell = RunningCell(peer.kc, tmp_path)
    peer.send(by_name("plain", "plain", i=1), subshell_id=subshell)
    peer.send(by_name("ts", "ping", i=2), subshell_id=subshell)
    (answer,) = peer.wait("ts")
    # Answered during the cell (it has not been released), on the subshell's thread.
    assert answer["kind"] == "result", answer
    assert answer["value"]["phase"] == "before" and answer["value"]["thread"] != "MainThread"
    assert not cell.release.exists()
    (waiting,) = peer.wait("plain", kind="waiting")
    assert waiting["message"] == "waiting for the running cell to finish"
    assert [r["kind"] for r in peer.of("plain")] == ["waiting"]  # no result while the cell runs
    cell.finish()
    replies = peer.wait("plain")
    assert replies[-1]["value"] == {"i": 1, "thread": "MainThread", "phase": "after"}  # after the cell


def test_async_streaming_and_cancel_work_beside_a_running_cell(bridge: tuple[CommPeer, str], tmp_path: Path) -> None:
    peer, subshell = bridge
    cell = RunningCell(peer.kc, tmp_path)
    try:
        peer.send(by_name("slow", "anap", i=1, seconds=60), subshell_id=subshell)
        peer.send(by_name("quick", "anap", i=2, seconds=0), subshell_id=subshell)
        peer.send(by_name("t", "ticks", n=3), subshell_id=subshell)
        (quick,) = peer.wait("quick")
        assert quick["value"]["i"] == 2 and quick["value"]["thread"] != "MainThread", quick
        assert [r["kind"] for r in peer.wait("t")] == ["chunk", "chunk", "chunk", "end"]
        peer.send({"kind": "cancel", "id": "slow"}, subshell_id=subshell)
        assert peer.wait("slow") == [{"kind": "cancelled", "id": "slow"}]
        assert not cell.release.exists()
    finally:
        cell.finish()


def test_50_concurrent_threadsafe_calls_none_crossed_none_lost(bridge: tuple[CommPeer, str], tmp_path: Path) -> None:
    peer, subshell = bridge
    cell = RunningCell(peer.kc, tmp_path)
    try:
        ids = {f"c{i}" for i in range(50)}
        for i in range(50):
            # Half sync, half async: both kinds run beside the cell.
            message = by_name(f"c{i}", "ping", i=i) if i % 2 else by_name(f"c{i}", "anap", i=i, seconds=0.01)
            peer.send(message, subshell_id=subshell)
        finals = peer.wait_final(ids, timeout=60)
        assert {rid: replies[-1]["value"]["i"] for rid, replies in finals.items()} == {f"c{i}": i for i in range(50)}
        assert all(len(replies) == 1 for replies in finals.values())
        assert not cell.release.exists()
    finally:
        cell.finish()


def test_uploads_reach_a_threadsafe_action_while_a_cell_runs(bridge: tuple[CommPeer, str], tmp_path: Path) -> None:
    peer, subshell = bridge
    execute(
        peer.kc,
        "%%use_server --threadsafe\nfrom notebook_actions import UploadedFile\n"
        "def size(f: UploadedFile) -> int:\n    return len(f.read())\n",
    )
    cell = RunningCell(peer.kc, tmp_path)
    try:
        peer.send({"kind": "upload", "id": "u", "name": "a.bin", "final": False}, [b"x" * 10], subshell_id=subshell)
        peer.send({"kind": "upload", "id": "u", "final": True}, [b"y" * 5], subshell_id=subshell)
        peer.wait("u", kind="uploaded", count=2)
        message = {**by_name("s", "size"), "files": {"f": [{"name": "a.bin", "upload": "u"}]}}
        peer.send(message, subshell_id=subshell)
        assert peer.wait("s")[-1]["value"] == 15
        peer.send(by_name("bad", "ping", i="x"), subshell_id=subshell)  # validation, as for any action
        assert peer.wait("bad")[-1]["kind"] == "invalid"
    finally:
        cell.finish()


def test_a_widget_made_in_a_cell_answers_on_the_front_ends_subshell(kc: BlockingKernelClient, tmp_path: Path) -> None:
    # As JupyterLab's commsOverSubshells does: the widget is made by a cell on the main
    # shell, its messages come on a subshell.
    out = execute(kc, "w = Form(ping)\nimport json\nprint(json.dumps([w.model_id, w.action.id]))")
    model_id, action_id = json.loads(out.strip().splitlines()[-1])
    peer = CommPeer(kc, model_id, widget=True)
    subshell = new_subshell(kc)
    cell = RunningCell(kc, tmp_path)
    try:
        peer.send({"kind": "invoke", "id": "w1", "action": action_id, "args": {"i": 7}}, subshell_id=subshell)
        (answer,) = peer.wait("w1")
        assert answer["value"]["i"] == 7 and answer["value"]["thread"] != "MainThread", answer
        assert not cell.release.exists()
    finally:
        cell.finish()


def test_a_plain_widget_says_it_waits_for_the_cell(kc: BlockingKernelClient, tmp_path: Path) -> None:
    out = execute(kc, "w = Form(plain)\nimport json\nprint(json.dumps([w.model_id, w.action.id]))")
    model_id, action_id = json.loads(out.strip().splitlines()[-1])
    peer = CommPeer(kc, model_id, widget=True)
    subshell = new_subshell(kc)
    cell = RunningCell(kc, tmp_path)
    peer.send({"kind": "invoke", "id": "p", "action": action_id, "args": {"i": 3}}, subshell_id=subshell)
    (waiting,) = peer.wait("p", kind="waiting")
    assert waiting["message"] == "waiting for the running cell to finish"
    cell.finish()
    assert peer.wait("p")[-1]["value"] == {"i": 3, "thread": "MainThread", "phase": "after"}


def test_a_thread_bound_object_gets_a_digest_and_a_hint_for_the_owner(kc: BlockingKernelClient) -> None:
    out = execute(kc, "w = Form(query)\nimport json\nprint(json.dumps([w.model_id, w.action.id]))")
    model_id, action_id = json.loads(out.strip().splitlines()[-1])
    peer = CommPeer(kc, model_id, widget=True)
    subshell = new_subshell(kc)
    peer.send({"kind": "invoke", "id": "q", "action": action_id, "args": {}}, subshell_id=subshell)
    (error,) = peer.wait("q")
    assert error["kind"] == "error" and error["type"] == "ProgrammingError", error
    assert error["digest"]
    assert "open the connection inside the action" in error["traceback"]
    assert "drop threadsafe" in error["traceback"]


def test_messages_on_the_main_shell_run_threadsafe_actions_there(kc: BlockingKernelClient) -> None:
    # A front end without subshells: the action runs, on the main thread, like any other.
    peer = CommPeer(kc)
    assert peer.open()["kind"] == "ready"
    peer.send(by_name("m", "ping", i=1))
    assert peer.wait("m")[-1]["value"]["thread"] == "MainThread"


def test_the_decorator_marks_an_inline_action_and_keeps_its_id(kc: BlockingKernelClient) -> None:
    out = execute(
        kc,
        "@action(threadsafe=True)\ndef inline(x: int) -> int:\n    'use server'\n    return x\n"
        "from notebook_actions._registry import registry\n"
        "print(json.dumps([inline.threadsafe, registry.get(inline.id) is inline]))",
    )
    assert json.loads(out) == [True, True]


def test_use_server_threadsafe_says_so_once_when_the_kernel_has_no_subshells(kc: BlockingKernelClient) -> None:
    # Stands in for ipykernel < 7 (the one thing that differs there: its answer).
    execute(
        kc,
        "from notebook_actions import _magic\n_saved = _magic.supports_subshells\n"
        "_magic.supports_subshells = lambda: False",
    )
    try:
        output = _Collector()
        cell = "%%use_server --threadsafe\ndef a() -> int:\n    return 1\ndef b() -> int:\n    return 2\n"
        reply = kc.execute_interactive(cell, timeout=60, output_hook=output)
        assert reply["content"]["status"] == "ok"
        assert output.text.count("no subshells") == 1, output.text
        assert "[threadsafe]" in output.text
    finally:
        execute(kc, "_magic.supports_subshells = _saved")


def test_use_server_refuses_other_arguments(kc: BlockingKernelClient) -> None:
    reply = kc.execute_interactive(
        "%%use_server --fast\ndef a() -> int:\n    return 1\n", timeout=60, output_hook=lambda m: None
    )
    assert reply["content"]["status"] == "error"
    assert "--threadsafe" in reply["content"]["evalue"] and "--fast" in reply["content"]["evalue"]


class _Collector:
    def __init__(self) -> None:
        self.text = ""

    def __call__(self, msg: dict[str, Any]) -> None:
        data = msg["content"].get("data") or {}
        self.text += data.get("text/plain", "")


def test_without_subshells_an_awaiting_cell_lets_actions_answer(kc: BlockingKernelClient, tmp_path: Path) -> None:
    # What the docs tell users of a front end that sends everything on the main shell:
    # a long cell that awaits (here, its work in a thread) leaves the kernel free between.
    peer = CommPeer(kc)
    assert peer.open()["kind"] == "ready"
    started, release = tmp_path / "started", tmp_path / "release"
    msg_id = kc.execute(
        f"def _work():\n    open({str(started)!r}, 'w').close()\n"
        f"    while not os.path.exists({str(release)!r}):\n        time.sleep(0.01)\n"
        "await asyncio.to_thread(_work)\n"
    )
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert time.monotonic() < deadline, "the cell did not start"
            time.sleep(0.01)
        peer.send(by_name("a", "plain", i=1))  # on the main shell, not threadsafe
        assert peer.wait("a")[-1]["value"] == {"i": 1, "thread": "MainThread", "phase": "before"}
        assert not release.exists()
    finally:
        release.touch()
    wait_idle(kc, msg_id)


def test_a_cancel_on_the_main_shell_reaches_a_call_running_on_a_subshell(bridge: tuple[CommPeer, str]) -> None:
    peer, subshell = bridge
    execute(
        peer.kc,
        "%%use_server --threadsafe\nnapping = threading.Event()\n"
        "async def long_nap() -> str:\n    napping.set()\n    await asyncio.sleep(600)\n    return 'woke'\n",
    )
    peer.send(by_name("n", "long_nap"), subshell_id=subshell)
    assert execute(peer.kc, "print(napping.wait(30))").strip() == "True"  # it runs, on the subshell
    peer.send({"kind": "cancel", "id": "n"})  # on the main shell
    assert peer.wait("n") == [{"kind": "cancelled", "id": "n"}]


def test_50_concurrent_widget_calls_and_a_cancel_while_a_cell_runs(kc: BlockingKernelClient, tmp_path: Path) -> None:
    out = execute(
        kc,
        "w = Form(anap, concurrent=True)\nimport json\nprint(json.dumps([w.model_id, w.action.id]))",
    )
    model_id, action_id = json.loads(out.strip().splitlines()[-1])
    peer = CommPeer(kc, model_id, widget=True)
    subshell = new_subshell(kc)
    cell = RunningCell(kc, tmp_path)
    try:
        peer.send(
            {"kind": "invoke", "id": "long", "action": action_id, "args": {"i": -1, "seconds": 600}},
            subshell_id=subshell,
        )
        for i in range(50):
            args = {"i": i, "seconds": 0.01}
            peer.send({"kind": "invoke", "id": f"c{i}", "action": action_id, "args": args}, subshell_id=subshell)
        finals = peer.wait_final({f"c{i}" for i in range(50)}, timeout=60)
        assert {rid: replies[-1]["value"]["i"] for rid, replies in finals.items()} == {f"c{i}": i for i in range(50)}
        assert all(len(replies) == 1 for replies in finals.values())
        peer.send({"kind": "cancel", "id": "long"}, subshell_id=subshell)
        assert peer.wait("long") == [{"kind": "cancelled", "id": "long"}]
        assert not cell.release.exists()
    finally:
        cell.finish()
