"""Invoke actions headlessly, exactly as a client would: same messages, same dispatcher.

from notebook_actions import testing
outcome = testing.invoke(add_todo, {"title": "milk"})          # sync actions, anywhere
outcome = await testing.ainvoke(slow_action, {"n": 3})         # in a notebook cell
outcome.value, outcome.errors, outcome.chunks, outcome.kind
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from ._action import Action
from ._caller import Caller
from ._dispatcher import Channel
from ._files import UploadedFile
from ._progress import Progress
from ._protocol import FINAL_KINDS, Buffer, FileRef, Outgoing, Reply, replies_to

_ids = itertools.count(1)

#: Files to send, by parameter name: an ``UploadedFile``, raw bytes, or a list of them.
Files = Mapping[str, UploadedFile | bytes | list[UploadedFile | bytes]]


class ActionFailed(AssertionError):
    """``Outcome.value`` was read but the action did not return a result."""


@dataclass
class Outcome:
    """Every reply to one request, in the order the client received them."""

    replies: list[Reply]
    buffers: list[bytes] = field(default_factory=list)

    @property
    def final(self) -> Reply | None:
        last = self.replies[-1] if self.replies else None
        return last if last is not None and last["kind"] in FINAL_KINDS else None

    @property
    def kind(self) -> str:
        """``result``, ``invalid``, ``error``, ``not_found``, ``end`` or ``cancelled``."""
        return self.final["kind"] if self.final is not None else "pending"

    @property
    def value(self) -> Any:
        final = self.final
        if final is None or final["kind"] != "result":
            message = f"the action did not return a result: {final!r}"
            raise ActionFailed(message)
        if "buffer" in final:
            return self.buffers[final["buffer"]]
        return final["value"]

    @property
    def errors(self) -> dict[str, str]:
        """Validation errors by field ("" for the call as a whole)."""
        final = self.final
        if final is None or final["kind"] != "invalid":
            return {}
        return {e["field"]: e["message"] for e in final["errors"]}

    @property
    def error(self) -> dict[str, Any] | None:
        final = self.final
        return dict(final) if final is not None and final["kind"] in ("error", "not_found") else None

    @property
    def chunks(self) -> list[Any]:
        """Streamed chunks; a ``Progress`` the action yielded comes back as a ``Progress``."""
        out: list[Any] = []
        for reply in self.replies:
            if reply["kind"] == "chunk":
                if "progress" in reply:
                    p = reply["progress"]
                    out.append(Progress(p["value"], p["total"], p["message"]))
                elif "buffer" in reply:
                    out.append(self.buffers[reply["buffer"]])
                else:
                    out.append(reply["value"])
        return out


class Client:
    """A client on its own channel: send raw protocol messages, collect the replies."""

    def __init__(
        self, *, include_traceback: bool = True, max_upload_bytes: int | None = None, caller: Caller | None = None
    ) -> None:
        # As they arrived (batches too), as plain dicts: tests look inside them freely.
        self.received: list[tuple[dict[str, Any], list[bytes]]] = []
        self._arrived = asyncio.Event()
        options: dict[str, Any] = {}
        if max_upload_bytes is not None:
            options["max_upload_bytes"] = max_upload_bytes
        if caller is not None:  # current_user() in the actions it calls (default: this process's user)
            options["caller"] = lambda _message: caller
        self.channel = Channel(self._collect, include_traceback=include_traceback, **options)

    def _collect(self, reply: Outgoing, buffers: list[Buffer]) -> None:
        self.received.append((cast("dict[str, Any]", reply), [bytes(b) for b in buffers]))
        self._arrived.set()

    def close(self) -> None:
        """Disconnect: cancel what is still running and drop unfinished uploads."""
        self.channel.close()

    def send(self, message: dict[str, Any], buffers: list[Buffer] | None = None) -> None:
        self.channel.receive(message, buffers or [])

    def outcome(self, rid: str) -> Outcome:
        replies: list[Reply] = []
        buffers: list[bytes] = []
        for reply, own in replies_to(self.received, rid):
            if own:  # the outcome's buffers are all of this request's, in order
                replies.append(cast("Reply", {**reply, "buffer": len(buffers)}))
                buffers.append(bytes(own[0]))
            else:
                replies.append(reply)
        return Outcome(replies, buffers)

    async def wait(self, rid: str, timeout: float = 30) -> Outcome:
        """Wait until the request's final reply has arrived."""

        async def until_final() -> None:
            while self.outcome(rid).final is None:
                self._arrived.clear()
                await self._arrived.wait()

        await asyncio.wait_for(until_final(), timeout)
        return self.outcome(rid)


def invoke_message(
    action: Action[Any] | str,
    args: Mapping[str, Any] | None = None,
    *,
    files: Files | None = None,
    form: bool = False,
) -> tuple[dict[str, Any], list[Buffer]]:
    """The ``invoke`` message (and buffers) a client sends for this call."""
    message: dict[str, Any] = {"kind": "invoke", "id": f"test-{next(_ids)}", "args": dict(args or {})}
    if isinstance(action, str):
        message["name"] = action
    else:
        message["action"] = action.id
    if form:
        message["encoding"] = "form"
    buffers: list[Buffer] = []
    if files:
        refs: dict[str, list[FileRef]] = {}
        for name, given in files.items():
            for item in given if isinstance(given, list) else [given]:
                if isinstance(item, UploadedFile):
                    item.seek(0)
                    ref: FileRef = {"name": item.name, "content_type": item.content_type, "buffer": len(buffers)}
                    buffers.append(item.read())
                else:
                    ref = {"name": name, "buffer": len(buffers)}
                    buffers.append(item)
                refs.setdefault(name, []).append(ref)
        message["files"] = refs
    return message, buffers


async def ainvoke(
    action: Action[Any] | str,
    args: Mapping[str, Any] | None = None,
    *,
    files: Files | None = None,
    form: bool = False,
    timeout: float = 30,
    caller: Caller | None = None,
) -> Outcome:
    """Invoke ``action`` (an action, or an exported action's name) and wait for its final
    reply; ``caller`` is ``current_user()`` in it (default: this process's user, as a widget's)."""
    client = Client(caller=caller)
    message, buffers = invoke_message(action, args, files=files, form=form)
    try:
        client.send(message, buffers)
        return await client.wait(message["id"], timeout)
    finally:
        client.close()


def invoke(
    action: Action[Any] | str,
    args: Mapping[str, Any] | None = None,
    *,
    files: Files | None = None,
    form: bool = False,
    timeout: float = 30,
    caller: Caller | None = None,
) -> Outcome:
    """Like ``ainvoke``, from synchronous code. In a notebook cell (the kernel's loop is
    busy running the cell) async and streaming actions need ``await ainvoke(...)``."""
    try:
        asyncio.get_running_loop()
        in_loop = True
    except RuntimeError:
        in_loop = False
    if not in_loop:
        return asyncio.run(ainvoke(action, args, files=files, form=form, timeout=timeout, caller=caller))
    client = Client(caller=caller)
    message, buffers = invoke_message(action, args, files=files, form=form)
    client.send(message, buffers)
    outcome = client.outcome(message["id"])
    client.close()
    if outcome.final is None:
        hint = (
            "this action runs on the event loop, which is busy running this cell: use "
            "`await notebook_actions.testing.ainvoke(...)` here"
        )
        raise RuntimeError(hint)
    return outcome
