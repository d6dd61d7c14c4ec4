"""The dispatcher, in process: results, errors, streams, cancellation, uploads."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import pytest
from pydantic import BaseModel

from notebook_actions import Progress, UploadedFile, action, testing
from notebook_actions._dispatcher import Channel, Target
from notebook_actions._protocol import pack, unpack
from notebook_actions._registry import registry


@dataclass
class Point:
    x: int
    y: int


class Reading(BaseModel):
    value: float
    unit: str


@pytest.fixture
def kernel_log() -> Iterator[list[str]]:
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    handler = Keep()
    log = logging.getLogger("notebook_actions")
    log.addHandler(handler)
    yield records
    log.removeHandler(handler)


@pytest.mark.parametrize(
    ("value", "sent"),
    [
        ({"a": [1, 2.5, None, True]}, {"a": [1, 2.5, None, True]}),
        (Point(1, 2), {"x": 1, "y": 2}),
        (Reading(value=1.5, unit="C"), {"value": 1.5, "unit": "C"}),
        ((1, 2), [1, 2]),
    ],
)
def test_results_are_sent_as_json(value: Any, sent: Any) -> None:
    assert testing.invoke(action(lambda: value)).value == sent


def test_bytes_results_travel_as_a_buffer() -> None:
    outcome = testing.invoke(action(lambda: b"\x00\xff" * 3))
    assert outcome.value == b"\x00\xff" * 3
    assert outcome.final is not None and outcome.final["kind"] == "result" and outcome.final["value"] is None


def test_unserializable_results_name_the_type() -> None:
    class Opaque:
        pass

    error = testing.invoke(action(lambda: Opaque())).error  # noqa: PLW0108  (an instance, not the class)
    assert error is not None and error["type"] == "UnserializableResult"
    assert "'test_unserializable_results_name_the_type.<locals>.Opaque'" in error["message"]


def test_exceptions_reply_with_a_digest_that_is_in_the_kernel_log(kernel_log: list[str]) -> None:
    @action
    def fail() -> None:
        raise KeyError("no such row")

    error = testing.invoke(fail).error
    assert error is not None
    assert error["type"] == "KeyError" and error["message"] == "'no such row'"
    (logged,) = kernel_log
    assert error["digest"] in logged and "Traceback" in logged and "in fail" in logged
    assert "notebook_actions/_dispatcher.py" not in error["traceback"]  # the owner sees their code, not ours


async def test_streams_keep_their_order_and_report_progress() -> None:
    @action
    def rows(n: int):  # type: ignore[no-untyped-def]  # noqa: ANN202
        for i in range(n):
            yield Progress(i + 1, n, "rows") if i % 3 == 0 else f"row {i}"

    @action
    async def ticks(n: int):  # type: ignore[no-untyped-def]  # noqa: ANN202
        for i in range(n):
            await asyncio.sleep(0)
            yield i

    outcome = await testing.ainvoke(rows, {"n": 7})
    assert outcome.chunks == [
        Progress(1, 7, "rows"),
        "row 1",
        "row 2",
        Progress(4, 7, "rows"),
        "row 4",
        "row 5",
        Progress(7, 7, "rows"),
    ]
    assert outcome.kind == "end"
    assert (await testing.ainvoke(ticks, {"n": 30})).chunks == list(range(30))


async def test_cancel_stops_the_task_and_closes_the_generator() -> None:
    closed: list[bool] = []
    running = asyncio.Event()

    @action
    async def forever():  # type: ignore[no-untyped-def]  # noqa: ANN202
        running.set()
        try:
            while True:
                await asyncio.sleep(0.01)
                yield "tick"
        finally:
            closed.append(True)

    client = testing.Client()
    client.send({"kind": "invoke", "id": "f", "action": forever.id})
    await asyncio.wait_for(running.wait(), 10)
    client.send({"kind": "cancel", "id": "f"})
    outcome = await client.wait("f", timeout=5)
    assert outcome.kind == "cancelled"
    assert closed == [True]


async def test_a_slow_action_does_not_hold_up_others() -> None:
    @action
    async def slow() -> str:
        await asyncio.sleep(10)
        return "slow"

    @action
    def fast() -> str:
        return "fast"

    client = testing.Client()
    client.send({"kind": "invoke", "id": "slow", "action": slow.id})
    client.send({"kind": "invoke", "id": "fast", "action": fast.id})
    assert (await client.wait("fast", timeout=2)).value == "fast"
    client.close()
    assert (await client.wait("slow", timeout=2)).kind == "cancelled"


async def test_a_request_id_in_flight_cannot_be_reused() -> None:
    @action
    async def slow() -> None:
        await asyncio.sleep(10)

    client = testing.Client()
    client.send({"kind": "invoke", "id": "x", "action": slow.id})
    client.send({"kind": "invoke", "id": "x", "action": slow.id})
    assert "already in flight" in client.outcome("x").replies[0]["message"]  # type: ignore[typeddict-item]
    client.close()


def test_chunked_upload_then_invoke() -> None:
    @action
    def size(data: UploadedFile) -> dict[str, Any]:
        return {"name": data.name, "size": data.size, "head": data.read(4).decode()}

    client = testing.Client()
    chunk = b"abcd" * 1000
    for i in range(5):
        client.send({"kind": "upload", "id": "u1", "name": "big.bin", "final": i == 4}, [chunk])
    acks = [r for r, _ in client.received if r["kind"] == "uploaded"]
    assert [a["size"] for a in acks] == [4000, 8000, 12000, 16000, 20000]
    client.send(
        {"kind": "invoke", "id": "r", "action": size.id, "files": {"data": [{"name": "big.bin", "upload": "u1"}]}}
    )
    assert client.outcome("r").value == {"name": "big.bin", "size": 20000, "head": "abcd"}


def test_upload_over_the_limit_is_refused() -> None:
    client = testing.Client(max_upload_bytes=10)
    client.send({"kind": "upload", "id": "u", "name": "f"}, [b"x" * 11])
    error = client.outcome("u").error
    assert error is not None and error["type"] == "UploadTooLarge" and "10 bytes" in error["message"]


def test_unfinished_or_unknown_uploads_are_an_error() -> None:
    act = action(lambda data: None)
    client = testing.Client()
    client.send({"kind": "upload", "id": "u", "name": "f"}, [b"x"])
    client.send({"kind": "invoke", "id": "r", "action": act.id, "files": {"data": [{"name": "f", "upload": "u"}]}})
    error = client.outcome("r").error
    client.close()
    assert error is not None and "not finished" in error["message"]


def test_stale_and_unknown_actions_say_what_to_rerun() -> None:
    act = action(exported=True, name="gone")(lambda: 1)
    registry.remove("gone")
    outcome = testing.invoke(act)
    assert outcome.kind == "not_found"
    assert outcome.error is not None and "re-run" in outcome.error["message"]


def test_channels_can_be_limited_to_some_actions() -> None:
    mine, other = action(lambda: "mine"), action(lambda: "other")
    replies: list[Any] = []
    channel = Channel(lambda r, b: replies.append(r), allow=lambda a: a is mine)
    channel.receive({"kind": "invoke", "id": "1", "action": mine.id})
    channel.receive({"kind": "invoke", "id": "2", "action": other.id})
    assert [r["kind"] for r in replies] == ["result", "not_found"]


def test_malformed_messages_are_answered_not_crashed() -> None:
    client = testing.Client()
    client.send({"kind": "dance", "id": "d"})
    client.send({"no": "id"})
    error = client.outcome("d").error
    assert error is not None and "unknown message kind" in error["message"]


def test_list_returns_exported_actions_only() -> None:
    action(exported=True, name="pub")(lambda x: x)
    action(lambda y: y)
    client = testing.Client()
    client.send({"kind": "list", "id": "l"})
    ((reply, _),) = client.received
    assert [a["name"] for a in reply["actions"]] == ["pub"]


def test_bind_fixes_arguments_in_the_kernel() -> None:
    @action
    def save(user_id: int, text: str) -> list[Any]:
        return [user_id, text]

    bound = save.bind(42)
    assert "user_id" not in bound.params_schema["properties"]
    assert testing.invoke(bound, {"text": "hi"}).value == [42, "hi"]
    assert "user_id" in testing.invoke(bound, {"user_id": 1, "text": "x"}).errors


def test_an_abandoned_upload_can_be_cancelled() -> None:
    client = testing.Client()
    client.send({"kind": "upload", "id": "u", "name": "f"}, [b"x" * 10])
    client.send({"kind": "cancel", "id": "u"})
    assert client.outcome("u").kind == "cancelled"
    act = action(lambda data: None)
    client.send({"kind": "invoke", "id": "r", "action": act.id, "files": {"data": [{"name": "f", "upload": "u"}]}})
    assert client.outcome("r").kind == "error"


def test_upload_chunks_inside_a_batch_name_their_buffer() -> None:
    @action
    def size(a: UploadedFile, b: UploadedFile) -> list[int]:
        return [a.size, b.size]

    client = testing.Client()
    client.send(
        {
            "kind": "batch",
            "messages": [
                {"kind": "upload", "id": "a", "name": "a", "final": True, "buffer": 0},
                {"kind": "upload", "id": "b", "name": "b", "final": True, "buffer": 1},
            ],
        },
        [b"1", b"22"],
    )
    files = {"a": [{"name": "a", "upload": "a"}], "b": [{"name": "b", "upload": "b"}]}
    client.send({"kind": "invoke", "id": "r", "action": size.id, "files": files})
    assert client.outcome("r").value == [1, 2]


def test_bind_by_keyword_leaves_the_parameter_out() -> None:
    @action
    def save(text: str, user_id: int) -> list[Any]:
        return [user_id, text]

    bound = save.bind(user_id=7)
    assert list(bound.params_schema["properties"]) == ["text"]
    assert testing.invoke(bound, {"text": "hi"}).value == [7, "hi"]


def _batch(*messages: dict[str, Any]) -> dict[str, Any]:
    message, _ = pack([(m, []) for m in messages])
    return cast("dict[str, Any]", message)


def test_sync_actions_that_share_a_batch_each_answer_when_done() -> None:
    events: list[str] = []

    @action
    def work(i: int) -> int:
        events.append(f"start {i}")
        time.sleep(0.01)  # not instant: a reply made before it must not wait for it
        return i

    def send(message: Any, buffers: list[Any]) -> None:
        events.extend(f"reply {reply['id']}" for reply in unpack(message))

    channel = Channel(send, batch_replies=True)
    channel.receive(_batch(*({"kind": "invoke", "id": f"w{i}", "action": work.id, "args": {"i": i}} for i in range(3))))
    assert events == ["start 0", "reply w0", "start 1", "reply w1", "start 2", "reply w2"]


def test_replies_of_quick_sync_actions_still_share_a_message() -> None:
    quick = action(lambda i: i)
    sent: list[Any] = []
    channel = Channel(lambda message, buffers: sent.append(message), batch_replies=True)
    channel.receive(
        _batch(*({"kind": "invoke", "id": f"q{i}", "action": quick.id, "args": {"i": i}} for i in range(20)))
    )
    assert [reply["value"] for message in sent for reply in unpack(message)] == list(range(20))
    assert len(sent) < 10  # (one, unless the machine stalls a call for over a millisecond)


async def test_a_serial_channel_runs_calls_in_order_and_drops_a_cancelled_queued_one() -> None:
    events: list[str] = []
    release = {i: asyncio.Event() for i in range(3)}

    @action
    async def step(i: int) -> int:
        events.append(f"start {i}")
        await release[i].wait()
        events.append(f"end {i}")
        return i

    client = testing.Client()
    client.channel.serial = True
    for i in range(3):
        client.send({"kind": "invoke", "id": f"s{i}", "action": step.id, "args": {"i": i}})
    client.send({"kind": "cancel", "id": "s1"})  # queued behind s0: it never starts
    assert client.outcome("s1").kind == "cancelled"
    await asyncio.sleep(0)
    assert events == ["start 0"]
    release[2].set()  # s2 may finish at once, but only runs after s0
    release[0].set()
    assert (await client.wait("s0")).value == 0
    assert (await client.wait("s2")).value == 2
    assert events == ["start 0", "end 0", "start 2", "end 2"]


def test_a_resolve_hook_fixes_leading_arguments_and_builds_nothing_per_call() -> None:
    @action
    def note(state: list[str], owner: str, text: str) -> list[str]:
        return [*state, f"{owner}: {text}"]

    seen: list[Any] = []
    state: list[str] = []

    def resolve(message: Any) -> Target | str:
        if message.get("action") != "notes":
            return "no such action here"
        return Target(note, (state,), {"owner": "ada"}, on_result=seen.append)

    replies: list[Any] = []
    channel = Channel(lambda reply, buffers: replies.append(reply), resolve=resolve)
    known = set(registry._by_id)
    channel.receive({"kind": "invoke", "id": "1", "action": "notes", "args": {"text": "hi"}})
    channel.receive({"kind": "invoke", "id": "2", "action": "notes", "args": {"owner": "eve", "text": "x"}})
    channel.receive({"kind": "invoke", "id": "3", "action": note.id})
    assert replies[0] == {"kind": "result", "id": "1", "value": ["ada: hi"]}
    assert replies[1]["kind"] == "invalid"  # the fixed argument is not the client's to send
    assert replies[2] == {"kind": "not_found", "id": "3", "message": "no such action here"}
    assert seen == [["ada: hi"]]
    assert set(registry._by_id) == known  # no action made per call
    assert note.signature_fixing(1, frozenset({"owner"})) is note.signature_fixing(1, frozenset({"owner"}))
