"""Hypothesis-made garbage through a real comm into a real kernel's dispatcher (the
``Channel`` every transport uses): the kernel keeps answering, every reply is one of the
protocol's kinds, and every request with an id of its own gets a final answer.

The run is the same every time (80 examples); ``FUZZ_EXAMPLES=2000`` runs that many new
random ones instead, to look further."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st
from jupyter_client.manager import KernelManager

from .peer import CommPeer, execute

ACTIONS = """%%use_server
import asyncio
from typing import Annotated
from pydantic import Field
from notebook_actions import UploadedFile

def add(a: int, b: int = 2) -> int:
    return a + b

def echo(text: str) -> str:
    return text

def untyped(value=None):
    return value

def count(n: Annotated[int, Field(ge=0, le=20)]):
    yield from range(n)

async def nap(seconds: Annotated[float, Field(ge=0, le=0.05)]) -> float:
    await asyncio.sleep(seconds)
    return seconds

def size(file: UploadedFile) -> int:
    return len(file.read())

def sizes(files: list[UploadedFile]) -> int:
    return sum(len(f.read()) for f in files)

def boom() -> None:
    raise RuntimeError("kaboom")
"""

NAMES = ["add", "echo", "untyped", "count", "nap", "size", "sizes", "boom"]

#: Every reply kind of the protocol (notebook_actions._protocol), and the final ones.
KINDS = {"result", "invalid", "error", "not_found", "chunk", "end", "cancelled", "uploaded", "actions"}
FINAL = {"result", "invalid", "error", "not_found", "end", "cancelled", "actions"}

IDS = st.text(max_size=4) | st.integers() | st.none()
TEXT = st.text(max_size=12)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=12,
)
ARG_NAMES = st.sampled_from(["a", "b", "text", "value", "n", "seconds", "file", "files"]) | st.text(max_size=3)
ARGS = st.dictionaries(ARG_NAMES, VALUES, max_size=4) | VALUES
FILE_REFS = st.fixed_dictionaries(
    {"name": TEXT},
    optional={"buffer": st.integers(-1, 4) | VALUES, "upload": TEXT, "content_type": TEXT | VALUES},
)
FILES = st.dictionaries(st.sampled_from(["file", "files", "x"]), st.lists(FILE_REFS, max_size=2) | VALUES) | VALUES

INVOKE = st.fixed_dictionaries(
    {"kind": st.just("invoke"), "id": IDS},
    optional={
        "name": st.sampled_from(NAMES) | TEXT | VALUES,
        "action": TEXT | VALUES,
        "args": ARGS,
        "encoding": st.sampled_from(["json", "form"]) | VALUES,
        "files": FILES,
    },
)
UPLOAD = st.fixed_dictionaries(
    {"kind": st.just("upload"), "id": IDS},
    optional={
        "name": TEXT | VALUES,
        "content_type": TEXT | VALUES,
        "final": VALUES,
        "buffer": st.integers(-1, 4) | VALUES,
    },
)
SIMPLE = st.fixed_dictionaries({"kind": st.sampled_from(["cancel", "list", "ready", "batch", ""]), "id": IDS})
MESSAGE = INVOKE | UPLOAD | SIMPLE | st.dictionaries(TEXT, VALUES, max_size=3) | VALUES
BATCH = st.fixed_dictionaries({"kind": st.just("batch"), "messages": st.lists(MESSAGE, max_size=5) | VALUES})
SENDS = st.lists(st.tuples(MESSAGE | BATCH, st.lists(st.binary(max_size=16), max_size=3)), min_size=1, max_size=6)


@pytest.fixture(params=["comm", "widget"])
def peer(kernel: KernelManager, request: pytest.FixtureRequest) -> Iterator[tuple[CommPeer, dict[str, Any]]]:
    """A peer on the server's comm target, or on a widget's comm (the browser's side), and
    the probe request that must always work there."""
    kc = kernel.blocking_client()
    kc.start_channels()
    kc.wait_for_ready(timeout=30)
    execute(kc, "%load_ext notebook_actions")
    execute(kc, ACTIONS)
    if request.param == "comm":
        peer = CommPeer(kc)
        assert peer.open()["kind"] == "ready"
        probe: dict[str, Any] = {"kind": "invoke", "name": "untyped", "args": {"value": 3}}
    else:
        code = "from notebook_actions import Form\nw = Form(untyped, concurrent=True)\nimport json\n"
        out = execute(kc, code + "print(json.dumps([w.model_id, w.action.id]))")
        model_id, action_id = json.loads(out.strip().splitlines()[-1])
        peer = CommPeer(kc, model_id, widget=True)
        probe = {"kind": "invoke", "action": action_id, "args": {"value": 3}}
    try:
        yield peer, probe
    finally:
        kc.stop_channels()


def own_ids(sends: list[tuple[Any, list[bytes]]], example: int) -> tuple[list[tuple[Any, list[bytes]]], set[str]]:
    """The messages with string ids made unique to this example; the ids of the requests
    that must get a final reply (invokes and lists whose id no other message shares)."""
    seen: dict[str, int] = {}
    asking: set[str] = set()

    def mark(message: Any) -> Any:
        if isinstance(message, dict) and isinstance(message.get("id"), str):
            message = {**message, "id": f"{example}:{message['id']}"}
            seen[message["id"]] = seen.get(message["id"], 0) + 1
            if message.get("kind") in ("invoke", "list"):
                asking.add(message["id"])
        if isinstance(message, dict) and message.get("kind") == "batch" and isinstance(message.get("messages"), list):
            message = {**message, "messages": [mark(item) for item in message["messages"]]}
        return message

    marked = [(mark(message), buffers) for message, buffers in sends]
    return marked, {rid for rid in asking if seen[rid] == 1}


def wait_final(peer: CommPeer, ids: set[str], timeout: float = 20) -> set[str]:
    """The ids among ``ids`` that got a final reply within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    done: set[str] = set()
    while done != ids and time.monotonic() < deadline:
        peer.pump(0.2)
        done = {str(got.reply.get("id")) for got in peer.received if got.reply.get("kind") in FINAL} & ids
    return done


def test_garbage_messages_get_protocol_replies_and_the_kernel_keeps_answering(
    peer: tuple[CommPeer, dict[str, Any]],
) -> None:
    comm, probe_request = peer
    examples = iter(range(1_000_000))
    runs = int(os.environ.get("FUZZ_EXAMPLES", "80"))

    @settings(
        max_examples=runs,
        deadline=None,
        database=None,
        derandomize="FUZZ_EXAMPLES" not in os.environ,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(sends=SENDS)
    def run(sends: list[tuple[Any, list[bytes]]]) -> None:
        example = next(examples)
        comm.received.clear()
        marked, asking = own_ids(sends, example)
        note(f"sent: {marked!r}")
        for message, buffers in marked:
            comm.send(message, buffers)
        probe = f"{example}:probe"
        comm.send({**probe_request, "id": probe})
        final = wait_final(comm, asking | {probe})
        replies = [got.reply for got in comm.received]
        note(f"replies: {replies!r}"[:3000])
        assert final == asking | {probe}, f"no final reply to {sorted(asking - final)}"
        assert {"kind": "result", "id": probe, "value": 3} in replies
        for reply in replies:
            assert reply.get("kind") in KINDS, reply
            assert isinstance(reply.get("id"), str), reply
            if reply["kind"] == "error":
                assert isinstance(reply.get("type"), str) and isinstance(reply.get("message"), str), reply
        json.dumps(replies)  # every reply is plain JSON

    run()
    assert next(examples) == runs  # every example ran
    assert not comm.closed


def test_a_lone_surrogate_loses_no_reply(peer: tuple[CommPeer, dict[str, Any]]) -> None:
    comm, probe = peer
    # JavaScript strings may hold lone surrogates, and JSON.stringify sends them as escapes.
    session = comm.kc.session
    session.pack = lambda obj: json.dumps(obj, ensure_ascii=True, default=str).encode()
    deep: list[Any] = []
    for _ in range(200):  # deep enough to be a burden, shallow enough for the kernel's decoder
        deep = [deep]
    comm.send(
        {
            "kind": "batch",
            "messages": [
                {**probe, "id": "text", "args": {"value": "\ud800"}},
                {**probe, "id": "key", "args": {"\udfff": 1}},
                {**probe, "id": "deep", "args": {"value": deep}},
                {**probe, "id": "ok"},
            ],
        }
    )
    assert wait_final(comm, {"text", "key", "deep", "ok"}, timeout=10) == {"text", "key", "deep", "ok"}
    replies = {got.reply["id"]: got.reply for got in comm.received}
    assert replies["ok"] == {"kind": "result", "id": "ok", "value": 3}
    assert replies["deep"]["kind"] == "result"
    assert replies["text"]["kind"] == "error" and "lone surrogate" in replies["text"]["message"]
    assert replies["key"]["kind"] in ("error", "invalid")


def test_an_upload_is_whole_or_refused(peer: tuple[CommPeer, dict[str, Any]]) -> None:
    comm, probe = peer
    # a finished upload takes no more bytes: they would overwrite it from the start
    comm.send({"kind": "upload", "id": "u1", "name": "a.txt", "final": True}, [b"hello"])
    assert comm.wait("u1", kind="uploaded")[-1]["size"] == 5
    comm.send({"kind": "upload", "id": "u1", "final": True}, [b"J"])
    refused = comm.wait("u1", kind="error")[-1]
    assert refused["type"] == "ProtocolError" and "new upload id" in refused["message"]
    # a chunk without its bytes is refused, not acknowledged as if whole
    comm.send({"kind": "upload", "id": "u2", "name": "b.txt"}, [b"part one "])
    comm.send({"kind": "upload", "id": "u2", "buffer": 3, "final": True}, [b"part two"])
    refused = comm.wait("u2", kind="error")[-1]
    assert refused["type"] == "ProtocolError" and "buffer 3" in refused["message"]
    assert [r["kind"] for r in comm.of("u2")] == ["uploaded", "error"]
    # the finished upload is still whole where it is used
    if "name" in probe:  # the comm target: any exported action by name
        comm.send({"kind": "invoke", "id": "use", "name": "size", "files": {"file": [{"name": "a", "upload": "u1"}]}})
        assert comm.wait("use")[-1] == {"kind": "result", "id": "use", "value": 5}
