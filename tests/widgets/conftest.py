"""A stand-in for the browser: every widget's comm opens here, and tests speak the
exact custom messages the ES module sends (``{"notebook_actions": {...}}``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import comm
import pytest
from comm.base_comm import BaseComm

from notebook_actions._protocol import FINAL_KINDS
from notebook_actions.widgets import ActionWidget
from notebook_actions.widgets._base import ENVELOPE


class RecordingComm(BaseComm):
    """A real ``comm`` package comm whose messages go to ``Frontend`` instead of a kernel's iopub."""

    sink: Callable[[BaseComm, str, dict[str, Any], list[bytes]], None] | None = None

    def publish_msg(
        self, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None, **keys: Any
    ) -> None:
        if RecordingComm.sink is not None:
            RecordingComm.sink(self, msg_type, data or {}, [bytes(b) for b in buffers or []])


class Frontend:
    """What the browser would see of each widget, and a way to talk back."""

    def __init__(self) -> None:
        self.opened: dict[str, dict[str, Any]] = {}  # comm id -> the state sent on open
        self.received: dict[str, list[tuple[dict[str, Any], list[bytes]]]] = {}
        self.listeners: list[Callable[[str, dict[str, Any], list[bytes]], None]] = []
        self._arrived = asyncio.Event()

    def publish(self, c: BaseComm, msg_type: str, data: dict[str, Any], buffers: list[bytes]) -> None:
        if msg_type == "comm_open":
            self.opened[c.comm_id] = data.get("state", {})
        elif msg_type == "comm_msg" and data.get("method") == "custom":
            self.received.setdefault(c.comm_id, []).append((data["content"], buffers))
            self._arrived.set()
        elif msg_type == "comm_msg" and data.get("method") == "update":
            self.opened.setdefault(c.comm_id, {}).update(data.get("state", {}))
        for listener in self.listeners:
            listener(c.comm_id, {"msg_type": msg_type, **data}, buffers)

    def state(self, widget: ActionWidget) -> dict[str, Any]:
        return self.opened[widget.model_id]

    def send(self, widget: ActionWidget, message: dict[str, Any], buffers: list[bytes] | None = None) -> None:
        """Exactly what ipykernel hands a widget when the ES module calls ``model.send``."""
        content = {"data": {"method": "custom", "content": {ENVELOPE: message}}}
        widget._handle_msg({"content": content, "buffers": list(buffers or [])})

    def replies(self, widget: ActionWidget, rid: str | None = None) -> list[dict[str, Any]]:
        out = []
        for content, buffers in self.received.get(widget.model_id, []):
            reply = content.get(ENVELOPE)
            if reply is not None and (rid is None or reply.get("id") == rid):
                out.append({**reply, "_buffers": buffers} if buffers else reply)
        return out

    def final(self, widget: ActionWidget, rid: str) -> dict[str, Any] | None:
        done = [r for r in self.replies(widget, rid) if r["kind"] in FINAL_KINDS]
        return done[-1] if done else None

    async def wait(self, widget: ActionWidget, rid: str, timeout: float = 10) -> dict[str, Any]:
        async def until() -> dict[str, Any]:
            while (reply := self.final(widget, rid)) is None:
                self._arrived.clear()
                await self._arrived.wait()
            return reply

        return await asyncio.wait_for(until(), timeout)


@pytest.fixture
def frontend(monkeypatch: pytest.MonkeyPatch) -> Iterator[Frontend]:
    import ipykernel.ipkernel  # noqa: F401  (importing it replaces comm.create_comm: do it first)

    front = Frontend()
    made: list[BaseComm] = []

    def create_comm(*args: Any, **kwargs: Any) -> BaseComm:
        c = RecordingComm(*args, **kwargs)
        made.append(c)
        return c

    monkeypatch.setattr(comm, "create_comm", create_comm)
    monkeypatch.setattr(RecordingComm, "sink", front.publish)
    from ipywidgets.widgets.widget import _instances

    before = set(_instances)
    yield front
    for model_id, widget in list(_instances.items()):
        if model_id not in before:
            widget.close()
