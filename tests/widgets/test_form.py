"""Form and ActionButton driven with the messages their ES modules send."""

from __future__ import annotations

import asyncio
import hashlib
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import pytest
from pydantic import Field

from notebook_actions import ActionButton, Form, Progress, UploadedFile, action
from notebook_actions._registry import registry
from notebook_actions.widgets import ActionWidget

from .conftest import Frontend


def add(a: int, b: int = 2) -> int:
    """Add two numbers."""
    return a + b


def invoke(widget: ActionWidget, rid: str, args: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    ref = widget.action
    return {"kind": "invoke", "id": rid, "action": ref.id, "args": args or {}, "encoding": "form", **extra}


def test_state_holds_the_action_ref_and_controls_never_the_function(frontend: Frontend) -> None:
    act = action(add)
    form = Form(act)
    state = frontend.state(form)
    assert state["action"] == {
        "id": act.id,
        "name": "add",
        "streaming": False,
        "doc": "Add two numbers.",
        "params": act.params_schema,
        "files": {},
    }
    assert [f["name"] for f in state["fields"]] == ["a", "b"]
    assert state["fields"][0] == {"name": "a", "label": "A", "required": True, "control": "number", "step": 1}
    assert state["fields"][1]["default"] == 2
    assert state["description"] == "Add two numbers."
    assert "callAction" in state["_esm"] and state["_esm"].count("// notebook-actions client") == 1


def test_valid_submit_returns_the_result_and_calls_on_result(frontend: Frontend) -> None:
    seen: list[Any] = []
    form = Form(action(add), on_result=seen.append)
    frontend.send(form, invoke(form, "r1", {"a": "40"}))
    assert frontend.replies(form, "r1") == [{"kind": "result", "id": "r1", "value": 42}]
    assert seen == [42]


def test_validation_errors_come_back_per_field(frontend: Frontend) -> None:
    def score(name: str, n: Annotated[int, Field(ge=1, le=5)]) -> str:
        return name * n

    form = Form(action(score))
    frontend.send(form, invoke(form, "bad", {"name": "x", "n": "9"}))
    frontend.send(form, invoke(form, "missing", {"name": "x"}))
    (bad,) = frontend.replies(form, "bad")
    assert bad["kind"] == "invalid"
    assert [(e["field"], e["type"]) for e in bad["errors"]] == [("n", "less_than_equal")]
    (missing,) = frontend.replies(form, "missing")
    assert missing["errors"][0] == {"field": "n", "loc": [], "message": "This field is required.", "type": "missing"}


def test_an_exception_reaches_the_owner_with_its_traceback(frontend: Frontend) -> None:
    def boom(x: int) -> None:
        raise ValueError(f"no good: {x}")

    form = Form(action(boom))
    frontend.send(form, invoke(form, "e", {"x": "3"}))
    (reply,) = frontend.replies(form, "e")
    assert reply["kind"] == "error" and reply["type"] == "ValueError" and reply["message"] == "no good: 3"
    assert "raise ValueError" in reply["traceback"] and reply["digest"]


def test_in_voila_viewers_get_no_traceback(frontend: Frontend, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom() -> None:
        raise RuntimeError("internal detail")

    monkeypatch.setenv("VOILA_KERNEL_ID", "k")
    button = ActionButton(action(boom))
    frontend.send(button, invoke(button, "e"))
    (reply,) = frontend.replies(button, "e")
    assert reply["kind"] == "error" and "traceback" not in reply and reply["digest"]


async def test_streaming_chunks_and_progress_in_order(frontend: Frontend) -> None:
    def count(n: int) -> Iterator[Any]:
        for i in range(n):
            yield Progress(i + 1, n, "rows") if i % 2 else f"line {i}\n"

    form = Form(action(count))
    frontend.send(form, invoke(form, "s", {"n": "4"}))
    await frontend.wait(form, "s")
    replies = frontend.replies(form, "s")
    assert [r["kind"] for r in replies] == ["chunk"] * 4 + ["end"]
    assert [r["seq"] for r in replies[:4]] == [0, 1, 2, 3]
    assert replies[0]["value"] == "line 0\n"
    assert replies[1]["progress"] == {"value": 2, "total": 4, "message": "rows"}


async def test_cancel_stops_a_running_call_and_drops_a_queued_one(frontend: Frontend) -> None:
    started: list[int] = []
    running = asyncio.Event()

    async def forever(i: int) -> AsyncIterator[int]:
        started.append(i)
        running.set()
        while True:
            yield i
            await asyncio.sleep(0.01)

    form = Form(action(forever))
    frontend.send(form, invoke(form, "first", {"i": "1"}))
    frontend.send(form, invoke(form, "second", {"i": "2"}))
    frontend.send(form, {"kind": "cancel", "id": "second"})
    assert frontend.final(form, "second") == {"kind": "cancelled", "id": "second"}
    await asyncio.wait_for(running.wait(), 10)
    frontend.send(form, {"kind": "cancel", "id": "first"})
    assert (await frontend.wait(form, "first"))["kind"] == "cancelled"
    assert started == [1]  # the queued call never ran


async def test_calls_queue_in_order_unless_concurrent(frontend: Frontend) -> None:
    log: list[str] = []
    gates: dict[int, asyncio.Event] = {}

    async def nap(i: int) -> int:
        log.append(f"start {i}")
        await gates[i].wait()
        log.append(f"end {i}")
        return i

    def open_gates(*order: int) -> None:
        # Later calls may finish first: each call's end waits only for its own gate.
        for i in order:
            gates[i].set()

    nap_action = action(nap)
    form = Form(nap_action)
    gates.update({i: asyncio.Event() for i in range(3)})
    for i in range(3):
        frontend.send(form, invoke(form, f"q{i}", {"i": str(i)}))
    await asyncio.sleep(0)
    assert log == ["start 0"]  # the others wait in the kernel's queue
    open_gates(2, 1, 0)
    for i in range(3):
        assert (await frontend.wait(form, f"q{i}"))["value"] == i
    assert log == ["start 0", "end 0", "start 1", "end 1", "start 2", "end 2"]
    finals = [r["id"] for r in frontend.replies(form) if r["kind"] == "result"]
    assert finals == ["q0", "q1", "q2"]

    log.clear()
    gates.update({i: asyncio.Event() for i in range(2)})
    both = Form(nap_action, concurrent=True)
    for i in range(2):
        frontend.send(both, invoke(both, f"c{i}", {"i": str(i)}))
    await asyncio.sleep(0)
    open_gates(1)
    await frontend.wait(both, "c1")
    open_gates(0)
    await frontend.wait(both, "c0")
    assert log == ["start 0", "start 1", "end 1", "end 0"]
    assert frontend.state(both)["concurrent"] is True


async def test_turning_concurrent_on_starts_the_queued_calls(frontend: Frontend) -> None:
    started: list[int] = []
    gate = asyncio.Event()

    async def wait(i: int) -> int:
        started.append(i)
        await gate.wait()
        return i

    form = Form(action(wait))
    for i in range(2):
        frontend.send(form, invoke(form, f"w{i}", {"i": str(i)}))
    await asyncio.sleep(0)
    assert started == [0]
    form.concurrent = True
    await asyncio.sleep(0)
    assert started == [0, 1]
    gate.set()
    assert [(await frontend.wait(form, f"w{i}"))["value"] for i in range(2)] == [0, 1]


async def test_a_duplicate_request_id_is_refused(frontend: Frontend) -> None:
    async def slow() -> None:
        await asyncio.sleep(1)

    button = ActionButton(action(slow))
    frontend.send(button, invoke(button, "other"))
    frontend.send(button, invoke(button, "dup"))  # queued behind the running call
    frontend.send(button, invoke(button, "dup"))
    (reply,) = frontend.replies(button, "dup")
    assert reply["kind"] == "error" and reply["type"] == "ProtocolError"
    for rid in ("dup", "other"):
        frontend.send(button, {"kind": "cancel", "id": rid})
    assert (await frontend.wait(button, "other"))["kind"] == "cancelled"


def test_a_stale_action_says_what_to_rerun_and_a_rerun_cell_is_used(frontend: Frontend) -> None:
    first = action(exported=True)(add)
    form = Form(first)
    button = ActionButton(first, args={"a": 1})

    def add_v2(a: int, b: int = 2) -> int:
        return 1000 + a + b

    action(name="add", exported=True)(add_v2)  # the %%use_server cell, edited and re-run
    frontend.send(form, invoke(form, "new", {"a": "1"}))
    assert frontend.final(form, "new") == {"kind": "result", "id": "new", "value": 1003}
    frontend.send(button, invoke(button, "new"))
    assert frontend.final(button, "new") == {"kind": "result", "id": "new", "value": 1003}

    registry.remove("add")  # re-run without it
    for widget in (form, button):
        frontend.send(widget, invoke(widget, "gone", {"a": "1"} if widget is form else {}))
        reply = frontend.final(widget, "gone")
        assert reply is not None and reply["kind"] == "not_found"
        assert "re-run that cell" in reply["message"]


def test_only_the_widgets_own_actions_can_be_called(frontend: Frontend) -> None:
    def secret_admin() -> str:
        return "admin things"

    other = action(secret_admin)
    form = Form(action(add))
    frontend.send(form, {"kind": "invoke", "id": "x", "action": other.id, "args": {}})
    frontend.send(form, {"kind": "invoke", "id": "y", "name": "secret_admin", "args": {}})
    assert frontend.final(form, "x") == {"kind": "not_found", "id": "x", "message": "this action is not available here"}
    assert frontend.final(form, "y") is not None and frontend.final(form, "y")["kind"] == "not_found"  # type: ignore[index]


def test_one_form_carries_several_actions(frontend: Frontend) -> None:
    def save(title: str) -> str:
        return f"saved {title}"

    def delete(title: str) -> str:
        return f"deleted {title}"

    remove = action(delete)
    form = Form(action(save), actions={"Delete": remove}, html="<form><input name=title></form>")
    state = frontend.state(form)
    assert state["actions"]["Delete"]["id"] == remove.id and state["fields"] == []
    frontend.send(form, {"kind": "invoke", "id": "d", "action": remove.id, "args": {"title": "x"}, "encoding": "form"})
    assert frontend.final(form, "d") == {"kind": "result", "id": "d", "value": "deleted x"}


def test_previous_state_is_the_first_argument(frontend: Frontend) -> None:
    def tally(total: int, step: int = 1) -> int:
        return total + step

    form = Form(action(tally), previous_state=True, initial_state=10)
    assert [f["name"] for f in frontend.state(form)["fields"]] == ["step"]
    for i, step in enumerate(["5", "x", "2"]):
        frontend.send(form, invoke(form, f"t{i}", {"step": step}))
    assert frontend.final(form, "t0")["value"] == 15  # type: ignore[index]
    assert frontend.final(form, "t1")["kind"] == "invalid"  # type: ignore[index]  # state unchanged
    assert frontend.final(form, "t2")["value"] == 17  # type: ignore[index]
    with pytest.raises(ValueError, match="cannot run concurrently"):
        Form(action(tally), previous_state=True, concurrent=True)


def test_previous_state_is_validated_back_into_its_type(frontend: Frontend) -> None:
    from dataclasses import dataclass

    @dataclass
    class Todos:
        items: list[str]

    def add_todo(todos: Todos, title: str) -> Todos:
        return Todos([*todos.items, title])

    form = Form(action(add_todo), previous_state=True, initial_state=Todos([]))
    frontend.send(form, invoke(form, "a", {"title": "milk"}))
    frontend.send(form, invoke(form, "b", {"title": "eggs"}))
    assert frontend.final(form, "b")["value"] == {"items": ["milk", "eggs"]}  # type: ignore[index]


def test_action_button_binds_its_arguments_in_the_kernel(frontend: Frontend) -> None:
    def greet(name: str, punctuation: str = "!") -> str:
        return f"hi {name}{punctuation}"

    greet_action = action(greet)
    button = ActionButton(greet_action, args={"name": "Ada"}, label="Say hi")
    state = frontend.state(button)
    assert state["label"] == "Say hi" and "Ada" not in repr(state)
    assert state["action"]["id"] != greet_action.id  # the original is not reachable from here
    assert list(state["action"]["params"]["properties"]) == ["punctuation"]
    frontend.send(button, invoke(button, "b"))
    frontend.send(button, invoke(button, "b2", {"name": "Eve"}))
    assert frontend.final(button, "b") == {"kind": "result", "id": "b", "value": "hi Ada!"}
    assert frontend.final(button, "b2")["kind"] == "invalid"  # type: ignore[index]  # bound: not overridable
    assert ActionButton(greet_action, ["Bo", "?"]).label == "Greet"
    with pytest.raises(TypeError, match=r"without name: pass them in args"):
        ActionButton(greet_action)


def test_plain_functions_are_refused_with_a_hint(frontend: Frontend) -> None:
    with pytest.raises(TypeError, match="plain function, not an action"):
        Form(add)  # type: ignore[arg-type]  # (what the test is about)
    with pytest.raises(TypeError, match="plain function, not an action"):
        ActionButton(add)  # type: ignore[arg-type]


def test_the_front_end_cannot_swap_the_action(frontend: Frontend) -> None:
    def other() -> None:
        pass

    form = Form(action(add))
    original = form.action
    intruder = action(other)
    form.set_state({"action": {"id": intruder.id, "name": "other", "params": {}, "files": {}, "streaming": False}})
    assert form.action is original


def _upload(frontend: Frontend, widget: ActionWidget, uid: str, data: bytes, chunk: int = 1 << 20) -> None:
    chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)] or [b""]
    for index, part in enumerate(chunks):
        message: dict[str, Any] = {"kind": "upload", "id": uid}
        if index == 0:
            message.update(name="data.bin", content_type="application/octet-stream")
        if index == len(chunks) - 1:
            message["final"] = True
        frontend.send(widget, message, [part])


def digest(f: UploadedFile) -> list[Any]:
    h = hashlib.sha256()
    f.seek(0)
    while block := f.read(1 << 16):
        h.update(block)
    return [f.name, f.size, h.hexdigest()]


def test_a_chunked_upload_is_acked_and_handed_over_as_a_file(frontend: Frontend) -> None:
    data = bytes(range(256)) * (10 * 4096 + 7)  # 10 MiB + a bit: over the websocket limit
    form = Form(action(digest))
    _upload(frontend, form, "u1", data)
    acks = frontend.replies(form, "u1")
    assert [a["kind"] for a in acks] == ["uploaded"] * 11
    assert acks[0]["size"] == 1 << 20 and acks[-1]["size"] == len(data)
    refs = {"f": [{"name": "data.bin", "content_type": "application/octet-stream", "upload": "u1"}]}
    frontend.send(form, invoke(form, "go", files=refs))
    assert frontend.final(form, "go")["value"] == ["data.bin", len(data), hashlib.sha256(data).hexdigest()]  # type: ignore[index]


def test_small_files_ride_along_as_buffers(frontend: Frontend) -> None:
    def sizes(files: list[UploadedFile]) -> list[int]:
        return [f.size for f in files]

    form = Form(action(sizes))
    assert frontend.state(form)["fields"][0] == {
        "name": "files",
        "label": "Files",
        "required": True,
        "control": "file",
        "multiple": True,
    }
    refs = {"files": [{"name": "a", "buffer": 0}, {"name": "b", "buffer": 1}]}
    frontend.send(form, invoke(form, "s", files=refs), [b"abc", b"de"])
    assert frontend.final(form, "s")["value"] == [3, 2]  # type: ignore[index]


def test_an_upload_over_the_limit_is_refused(frontend: Frontend) -> None:
    form = Form(action(digest), max_upload_bytes=2 << 20)
    assert frontend.state(form)["max_upload_bytes"] == 2 << 20
    _upload(frontend, form, "big", b"x" * (3 << 20))
    kinds = [r["kind"] for r in frontend.replies(form, "big")]
    assert kinds[:2] == ["uploaded", "uploaded"] and "error" in kinds
    error = next(r for r in frontend.replies(form, "big") if r["kind"] == "error")
    assert error["type"] == "UploadTooLarge" and str(2 << 20) in error["message"]
    with pytest.raises(ValueError, match="positive number of bytes"):
        Form(action(digest), max_upload_bytes=0)


def test_a_50_mb_upload_keeps_memory_far_below_three_times_its_size(frontend: Frontend) -> None:
    size = 50 * 1000 * 1000
    form = Form(action(digest))
    chunk = b"\x5a" * (1 << 20)
    expected = hashlib.sha256()
    tracemalloc.start()
    try:
        sent = 0
        while sent < size:
            part = chunk[: min(len(chunk), size - sent)]
            message: dict[str, Any] = {"kind": "upload", "id": "u"}
            if sent == 0:
                message["name"] = "big.bin"
            sent += len(part)
            if sent == size:
                message["final"] = True
            expected.update(part)
            frontend.send(form, message, [part])
        frontend.send(form, invoke(form, "go", files={"f": [{"name": "big.bin", "upload": "u"}]}))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert frontend.final(form, "go")["value"] == ["big.bin", size, expected.hexdigest()]  # type: ignore[index]
    assert peak < 3 * size
    assert peak < 16 << 20  # in fact: a few chunks, the file spools to disk


def test_the_widgets_own_custom_messages_are_left_alone(frontend: Frontend) -> None:
    form = Form(action(add))
    got: list[Any] = []
    form.on_msg(lambda _w, content, _b: got.append(content))
    form._handle_msg(
        {"content": {"data": {"method": "custom", "content": {"kind": "invoke", "id": "z"}}}, "buffers": []}
    )
    assert got == [{"kind": "invoke", "id": "z"}] and frontend.replies(form) == []


def test_a_batch_of_requests_is_answered_in_order(frontend: Frontend) -> None:
    form = Form(action(add))
    ref = form.action.id
    batch = {
        "kind": "batch",
        "messages": [
            {"kind": "invoke", "id": "b1", "action": ref, "args": {"a": 1}},
            {"kind": "invoke", "id": "b2", "action": ref, "args": {"a": 2}},
        ],
    }
    frontend.send(form, batch)
    assert [(r["id"], r["value"]) for r in frontend.replies(form)] == [("b1", 3), ("b2", 4)]


def test_an_action_button_can_keep_previous_state(frontend: Frontend) -> None:
    def bump(count: int, by: int) -> int:
        return count + by

    button = ActionButton(action(bump), args={"by": 2}, previous_state=True, initial_state=0, label="+2")
    assert frontend.state(button)["action"]["params"]["properties"] == {}
    for rid in ("a", "b", "c"):
        frontend.send(button, invoke(button, rid))
    assert [frontend.final(button, rid)["value"] for rid in "abc"] == [2, 4, 6]  # type: ignore[index]
