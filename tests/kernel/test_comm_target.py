"""The comm target in a real kernel started with jupyter_client: what the server's bridge sees."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager

from notebook_actions._protocol import COMM_TARGET

SETUP = """%load_ext notebook_actions
import asyncio, sqlite3, threading
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
"""


class KernelPeer:
    """A jupyter_client connection speaking the protocol over one comm."""

    def __init__(self, kc: BlockingKernelClient) -> None:
        self.kc = kc
        self.comm_id = uuid.uuid4().hex
        self.replies: list[tuple[dict[str, Any], list[bytes]]] = []
        self.closed = False

    def execute(self, code: str) -> None:
        reply = self.kc.execute_interactive(code, timeout=30, output_hook=lambda msg: None)
        assert reply["content"]["status"] == "ok", reply["content"]

    def open(self, subshell_id: str | None = None) -> dict[str, Any]:
        msg = self.kc.session.msg("comm_open", {"comm_id": self.comm_id, "target_name": COMM_TARGET, "data": {}})
        if subshell_id is not None:
            msg["header"]["subshell_id"] = subshell_id
        self.kc.shell_channel.send(msg)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            self._pump(0.5)
            if self.closed or self.replies:
                break
        return self.replies.pop(0)[0] if self.replies else {"kind": "closed"}

    def send(self, data: dict[str, Any], subshell_id: str | None = None) -> None:
        msg = self.kc.session.msg("comm_msg", {"comm_id": self.comm_id, "data": data})
        if subshell_id is not None:
            msg["header"]["subshell_id"] = subshell_id
        self.kc.shell_channel.send(msg)

    def _pump(self, timeout: float) -> None:
        try:
            msg = self.kc.get_iopub_msg(timeout=timeout)
        except Exception:  # queue.Empty
            return
        content = msg["content"]
        if content.get("comm_id") != self.comm_id:
            return
        if msg["msg_type"] == "comm_close":
            self.closed = True
        elif msg["msg_type"] == "comm_msg":
            data = content["data"]
            buffers = [bytes(b) for b in msg.get("buffers") or []]
            for item in data["messages"] if data.get("kind") == "batch" else [data]:
                self.replies.append((item, buffers))

    def wait_final(self, ids: set[str], timeout: float = 20) -> dict[str, list[dict[str, Any]]]:
        final = {"result", "invalid", "error", "not_found", "end", "cancelled"}
        deadline = time.monotonic() + timeout
        done: set[str] = set()
        while done != ids and time.monotonic() < deadline:
            self._pump(0.2)
            done = {r["id"] for r, _ in self.replies if r["kind"] in final and r["id"] in ids}
        assert done == ids, f"no final reply for {sorted(ids - done)}"
        by_id: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
        for reply, _ in self.replies:
            if reply["id"] in by_id:
                by_id[reply["id"]].append(reply)
        return by_id


@pytest.fixture
def peer(kernel: KernelManager) -> Iterator[KernelPeer]:
    kc = kernel.blocking_client()
    kc.start_channels()
    kc.wait_for_ready(timeout=30)
    peer = KernelPeer(kc)
    peer.execute(SETUP)
    peer.execute(ACTIONS)
    assert peer.open()["kind"] == "ready"
    try:
        yield peer
    finally:
        kc.stop_channels()


def test_invoke_by_name_and_validation(peer: KernelPeer) -> None:
    peer.send({"kind": "invoke", "id": "a", "name": "add", "args": {"a": 1, "b": "2"}})
    peer.send({"kind": "invoke", "id": "b", "name": "add", "args": {"a": "x"}})
    peer.send({"kind": "invoke", "id": "c", "name": "missing"})
    replies = peer.wait_final({"a", "b", "c"})
    assert replies["a"] == [{"kind": "result", "id": "a", "value": 3}]
    assert {e["field"] for e in replies["b"][0]["errors"]} == {"a", "b"}
    assert replies["c"][0]["kind"] == "not_found" and "%%use_server" in replies["c"][0]["message"]


def test_errors_carry_a_digest_and_no_traceback(peer: KernelPeer) -> None:
    peer.send({"kind": "invoke", "id": "e", "name": "boom"})
    (reply,) = peer.wait_final({"e"})["e"]
    assert reply["type"] == "RuntimeError" and reply["message"] == "kaboom"
    assert len(reply["digest"]) == 12 and "traceback" not in reply


def test_fifty_async_requests_in_flight_answered_without_cross_talk(peer: KernelPeer) -> None:
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


def test_batched_requests_and_streaming_order(peer: KernelPeer) -> None:
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


def test_cancel_a_pending_request(peer: KernelPeer) -> None:
    peer.send({"kind": "invoke", "id": "slow", "name": "nap", "args": {"i": 1, "seconds": 30}})
    peer.send({"kind": "cancel", "id": "slow"})
    assert peer.wait_final({"slow"})["slow"] == [{"kind": "cancelled", "id": "slow"}]


def test_subshell_delivery_runs_the_action_on_the_main_thread(peer: KernelPeer) -> None:
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
    sub = KernelPeer(kc)
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
        assert KernelPeer(kc).open() == {"kind": "closed"}
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
