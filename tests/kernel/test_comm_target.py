"""The comm target in a real kernel started with jupyter_client: what the server's bridge sees."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import pytest
from jupyter_client.manager import KernelManager

from .peer import CommPeer

SETUP = """%load_ext notebook_actions
import asyncio, sqlite3, threading, time
db = sqlite3.connect(":memory:")  # bound to the main thread, like a user's connection
db.execute("create table t (x int)")
"""

ACTIONS = """%%use_server
def add(a: int, b: int) -> int:
    return a + b

async def nap(i: int, seconds: float) -> int:
    await asyncio.sleep(seconds)
    return i

def count(n: int):
    for i in range(n):
        yield i

def insert(x: int) -> dict:
    db.execute("insert into t values (?)", (x,))
    return {"rows": db.execute("select count(*) from t").fetchone()[0],
            "main_thread": threading.current_thread() is threading.main_thread()}

def boom() -> None:
    raise RuntimeError("kaboom")

def pause(i: int, seconds: float) -> int:
    time.sleep(seconds)  # a sync action that takes a while (a query, a model call)
    return i
"""


@pytest.fixture
def peer(kernel: KernelManager) -> Iterator[CommPeer]:
    kc = kernel.blocking_client()
    kc.start_channels()
    kc.wait_for_ready(timeout=30)
    peer = CommPeer(kc)
    peer.execute(SETUP)
    peer.execute(ACTIONS)
    assert peer.open()["kind"] == "ready"
    try:
        yield peer
    finally:
        kc.stop_channels()


def test_invoke_by_name_and_validation(peer: CommPeer) -> None:
    peer.send({"kind": "invoke", "id": "a", "name": "add", "args": {"a": 1, "b": "2"}})
    peer.send({"kind": "invoke", "id": "b", "name": "add", "args": {"a": "x"}})
    peer.send({"kind": "invoke", "id": "c", "name": "missing"})
    replies = peer.wait_final({"a", "b", "c"})
    assert replies["a"] == [{"kind": "result", "id": "a", "value": 3}]
    assert {e["field"] for e in replies["b"][0]["errors"]} == {"a", "b"}
    assert replies["c"][0]["kind"] == "not_found" and "%%use_server" in replies["c"][0]["message"]


def test_errors_carry_a_digest_and_no_traceback(peer: CommPeer) -> None:
    peer.send({"kind": "invoke", "id": "e", "name": "boom"})
    (reply,) = peer.wait_final({"e"})["e"]
    assert reply["type"] == "RuntimeError" and reply["message"] == "kaboom"
    assert len(reply["digest"]) == 12 and "traceback" not in reply


def test_fifty_async_requests_in_flight_answered_without_cross_talk(peer: CommPeer) -> None:
    ids = {f"n{i}" for i in range(50)}
    started = time.monotonic()
    for i in range(50):
        peer.send({"kind": "invoke", "id": f"n{i}", "name": "nap", "args": {"i": i, "seconds": 0.5}})
    replies = peer.wait_final(ids)
    elapsed = time.monotonic() - started
    for i in range(50):
        assert replies[f"n{i}"] == [{"kind": "result", "id": f"n{i}", "value": i}]
    # concurrency, not speed: fifty half-second naps one after another would take 25 s
    assert elapsed < 12.5


def test_batched_requests_and_streaming_order(peer: CommPeer) -> None:
    peer.send(
        {
            "kind": "batch",
            "messages": [
                {"kind": "invoke", "id": "s", "name": "count", "args": {"n": 20}},
                {"kind": "invoke", "id": "t", "name": "add", "args": {"a": 2, "b": 2}},
            ],
        }
    )
    replies = peer.wait_final({"s", "t"})
    chunks = [r for r in replies["s"] if r["kind"] == "chunk"]
    assert [c["value"] for c in chunks] == list(range(20))
    assert [c["seq"] for c in chunks] == list(range(20))
    assert replies["s"][-1]["kind"] == "end"
    assert replies["t"][-1]["value"] == 4


def test_sync_calls_that_share_a_batch_each_answer_when_done(peer: CommPeer) -> None:
    # The server's bridge batches requests that arrive together. Each sync call's reply
    # leaves as soon as it is done, not with the last one: by the kernel's own clock,
    # the replies leave one by one, a call's length apart.
    ids = [f"p{i}" for i in range(4)]
    calls = [
        {"kind": "invoke", "id": rid, "name": "pause", "args": {"i": i, "seconds": 0.3}} for i, rid in enumerate(ids)
    ]
    peer.send({"kind": "batch", "messages": calls})
    replies = peer.wait_final(set(ids))
    assert [replies[rid][-1]["value"] for rid in ids] == [0, 1, 2, 3]
    arrivals = [next(r for r in peer.received if r.reply["id"] == rid) for rid in ids]
    assert len({a.message for a in arrivals}) == 4, "replies waited for each other"
    gaps = [(later.sent - earlier.sent).total_seconds() for earlier, later in itertools.pairwise(arrivals)]
    assert all(gap >= 0.25 for gap in gaps), gaps  # each left as its own call ended (sleep never returns early)


def test_cancel_a_pending_request(peer: CommPeer) -> None:
    peer.send({"kind": "invoke", "id": "slow", "name": "nap", "args": {"i": 1, "seconds": 30}})
    peer.send({"kind": "cancel", "id": "slow"})
    assert peer.wait_final({"slow"})["slow"] == [{"kind": "cancelled", "id": "slow"}]


def test_subshell_delivery_runs_the_action_on_the_main_thread(peer: CommPeer) -> None:
    # As JupyterLab's commsOverSubshells does: the comm lives on a subshell, whose
    # handlers run on another thread.
    kc = peer.kc
    kc.control_channel.send(kc.session.msg("create_subshell_request", {}))
    reply = kc.get_control_msg(timeout=10)
    assert reply["content"]["status"] == "ok", reply["content"]
    subshell_id = reply["content"]["subshell_id"]
    peer.execute(
        "receiving_threads = []\n"
        "from notebook_actions import _dispatcher\n"
        "_original = _dispatcher.Channel.receive\n"
        "def _spy(self, *a):\n"
        "    receiving_threads.append(threading.current_thread().name)\n"
        "    return _original(self, *a)\n"
        "_dispatcher.Channel.receive = _spy\n"
    )
    sub = CommPeer(kc)
    assert sub.open(subshell_id)["kind"] == "ready"
    sub.send({"kind": "invoke", "id": "sub", "name": "insert", "args": {"x": 1}}, subshell_id=subshell_id)
    (result,) = sub.wait_final({"sub"})["sub"]
    assert result["kind"] == "result", result
    assert result["value"]["main_thread"] is True  # the sqlite connection made in a cell worked
    peer.execute(
        "_dispatcher.Channel.receive = _original\n"
        "assert receiving_threads and 'MainThread' not in receiving_threads, receiving_threads"
    )


def test_a_kernel_without_the_extension_closes_the_comm(kernel: KernelManager) -> None:
    km = KernelManager(kernel_name="python3")
    km.start_kernel()
    kc = km.blocking_client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=30)
        assert CommPeer(kc).open() == {"kind": "closed"}
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
