"""Widgets in a real kernel (ipykernel via jupyter_client), driven over their real comm
exactly as the browser drives them: custom messages, binary buffers, subshells."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager

from tests.kernel.peer import CommPeer, execute

SETUP = """%load_ext notebook_actions
import asyncio, hashlib, resource, sqlite3, threading
from notebook_actions import Form, ActionButton, Progress, UploadedFile
db = sqlite3.connect(":memory:")  # bound to the main thread, like a user's connection
"""

ACTIONS = """%%use_server
napping = []  # the naps that started

async def nap(i: int, seconds: float) -> int:
    napping.append(i)
    await asyncio.sleep(seconds)
    return i

async def ticks(n: int):
    for i in range(n):
        yield Progress(i + 1, n, "ticks")
        await asyncio.sleep(0.05)

def digest(f: UploadedFile) -> list:
    h = hashlib.sha256()
    f.seek(0)
    while block := f.read(1 << 16):
        h.update(block)
    return [f.name, f.size, h.hexdigest()]

def where() -> dict:
    return {"main_thread": threading.current_thread() is threading.main_thread(),
            "db": db.execute("select 1").fetchone()[0]}
"""


@pytest.fixture
def kc(kernel: KernelManager) -> Iterator[BlockingKernelClient]:
    client = kernel.blocking_client()
    client.start_channels()
    client.wait_for_ready(timeout=60)
    execute(client, SETUP)
    execute(client, ACTIONS)
    try:
        yield client
    finally:
        client.stop_channels()


def make(kc: BlockingKernelClient, code: str) -> tuple[CommPeer, dict[str, Any]]:
    """Run ``code`` (which binds ``w``); return a peer on its comm and its action ref."""
    out = execute(kc, code + "\nimport json\nprint(json.dumps([w.model_id, w.action.id]))")
    model_id, action_id = json.loads(out.strip().splitlines()[-1])
    return CommPeer(kc, model_id, widget=True), {"id": action_id}


def invoke(ref: dict[str, Any], rid: str, **args: Any) -> dict[str, Any]:
    return {"kind": "invoke", "id": rid, "action": ref["id"], "args": args}


def test_async_calls_queue_in_the_kernel_and_cancel_reaches_the_task(kc: BlockingKernelClient) -> None:
    peer, ref = make(kc, "w = Form(nap)")
    peer.send(invoke(ref, "slow", i=1, seconds=30))
    peer.send(invoke(ref, "next", i=2, seconds=0))
    # A cell runs between the kernel's other work: it sees the nap under way (and the
    # queued call not started) before the cancel goes out.
    deadline = time.monotonic() + 30
    while (started := json.loads(execute(kc, "print(json.dumps(napping))"))) != [1]:
        assert not started and time.monotonic() < deadline, started
    peer.send({"kind": "cancel", "id": "slow"})
    assert peer.wait("slow")[-1] == {"kind": "cancelled", "id": "slow"}
    assert peer.wait("next")[-1] == {"kind": "result", "id": "next", "value": 2}  # then the queue moved on


def test_streamed_progress_arrives_chunk_by_chunk(kc: BlockingKernelClient) -> None:
    peer, ref = make(kc, "w = Form(ticks)")
    peer.send(invoke(ref, "t", n=3))
    replies = peer.wait("t")
    assert [r["kind"] for r in replies] == ["chunk", "chunk", "chunk", "end"]
    assert [r["progress"]["value"] for r in replies[:3]] == [1, 2, 3]


def test_a_50_mb_chunked_upload_keeps_the_kernels_peak_memory_under_3x(kc: BlockingKernelClient) -> None:
    size = 50 * 1000 * 1000
    peer, ref = make(kc, "w = Form(digest)")
    before = int(execute(kc, "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)"))
    chunk = bytes(range(256)) * 4096  # 1 MiB
    expected = hashlib.sha256()
    sent = acked = index = 0
    while sent < size or acked < index:
        while sent < size and index - acked < 2:  # the JS client's window: 2 chunks in flight
            part = chunk[: min(len(chunk), size - sent)]
            message: dict[str, Any] = {"kind": "upload", "id": "big"}
            if index == 0:
                message.update(name="big.bin", content_type="application/octet-stream")
            sent += len(part)
            index += 1
            if sent == size:
                message["final"] = True
            expected.update(part)
            peer.send(message, [part])
        acks = peer.wait("big", kind="uploaded", count=acked + 1)
        acked = sum(r["kind"] == "uploaded" for r in acks)
    assert peer.of("big")[-1] == {"kind": "uploaded", "id": "big", "size": size}
    peer.send({**invoke(ref, "go"), "files": {"f": [{"name": "big.bin", "upload": "big"}]}})
    assert peer.wait("go")[-1]["value"] == ["big.bin", size, expected.hexdigest()]
    peak = int(execute(kc, "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)"))
    assert peak - before < 3 * size, f"the kernel's peak grew by {(peak - before) / 1e6:.0f} MB"
    print(f"50 MB upload: the kernel's peak RSS grew by {(peak - before) / 1e6:.1f} MB")


def test_messages_on_a_subshell_run_the_action_on_the_main_thread(kc: BlockingKernelClient) -> None:
    # As JupyterLab's commsOverSubshells does: the comm's handler runs on another thread.
    # ipykernel routes a comm's messages to the subshell its last message came from, so
    # the widget is made by a cell run on the subshell.
    kc.control_channel.send(kc.session.msg("create_subshell_request", {}))
    reply = kc.get_control_msg(timeout=10)
    assert reply["content"]["status"] == "ok", reply["content"]
    subshell = reply["content"]["subshell_id"]
    execute(kc, SPY)
    request = kc.session.msg("execute_request", {"code": "w = ActionButton(where)", "silent": False})
    request["header"]["subshell_id"] = subshell
    kc.shell_channel.send(request)
    while True:
        msg = kc.get_shell_msg(timeout=30)
        if msg["parent_header"].get("msg_id") == request["header"]["msg_id"]:
            assert msg["content"]["status"] == "ok", msg["content"]
            break
    peer, ref = make(kc, "")
    peer.send(invoke(ref, "a"), subshell_id=subshell)
    assert peer.wait("a")[-1]["value"] == {"main_thread": True, "db": 1}
    threads = json.loads(execute(kc, "_dispatcher.on_main_thread = _original\nprint(json.dumps(arrived_on))"))
    assert threads and threads[0] != "MainThread", threads  # it did arrive on the subshell's thread


SPY = """
import json
from notebook_actions import _dispatcher
arrived_on = []
_original = _dispatcher.on_main_thread
def _spy():
    arrived_on.append(threading.current_thread().name)
    return _original()
_dispatcher.on_main_thread = _spy
"""


def test_a_removed_action_is_reported_with_what_to_rerun(kc: BlockingKernelClient) -> None:
    peer, ref = make(kc, "w = Form(nap)")
    execute(kc, "from notebook_actions._registry import registry; registry.remove('nap')")
    peer.send(invoke(ref, "gone", i=1, seconds=0))
    (reply,) = peer.wait("gone")
    assert reply["kind"] == "not_found" and "re-run that cell" in reply["message"]
