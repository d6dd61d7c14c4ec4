"""The outbox: replies wait there until the channel flushes, so that replies ready together
leave as one ``batch`` transport message when the transport batches (the server's comm)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import cast

from ._log import log
from ._protocol import UNSERIALIZABLE_RESULT, Buffer, Reply, Send, pack

#: What coding a reply for the wire raises when a value cannot be carried.
UNCODABLE = (ValueError, TypeError, RecursionError)


class Outbox:
    """One channel's replies not yet sent, and how they leave (``send``)."""

    def __init__(self, send: Send, *, batch: bool) -> None:
        self._send = send
        self._batch = batch
        self._replies: list[tuple[Reply, list[Buffer]]] = []
        self._flush_scheduled = False

    @property
    def pending(self) -> bool:
        return bool(self._replies)

    def put(self, reply: Reply, buffers: Sequence[Buffer] = ()) -> None:
        self._replies.append((reply, list(buffers)))

    def schedule_flush(self) -> None:
        # Replies made in the same turn of the loop (many tasks finishing together)
        # leave as one transport message when the transport batches.
        if self._flush_scheduled:
            return
        self._flush_scheduled = True
        asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._flush_scheduled = False
        replies, self._replies = self._replies, []
        if not replies:
            return
        if not self._batch or len(replies) == 1:
            for reply, buffers in replies:
                self._send_alone(reply, buffers)
            return
        message, buffers = pack(replies)
        try:
            self._send(message, buffers)
        except UNCODABLE:
            # One reply cannot be coded for the wire: sent alone, only that one fails.
            for reply, own in replies:
                self._send_alone(reply, own)

    def _send_alone(self, reply: Reply, buffers: list[Buffer]) -> None:
        try:
            self._send(reply, buffers)
        except UNCODABLE as err:
            # A value that JSON on the wire cannot carry (text with a lone surrogate,
            # which a browser may send; nesting too deep): the request gets an error.
            log.warning("a reply to request %.100r cannot be sent: %s", reply.get("id"), err)
            message = (
                "the reply cannot be sent: it holds text that is not valid Unicode (a lone "
                "surrogate such as \\ud800) or a value nested too deeply"
            )
            error = {"kind": "error", "id": reply.get("id"), "type": UNSERIALIZABLE_RESULT, "message": message}
            try:
                self._send(cast("Reply", {**error, "digest": ""}), [])
            except UNCODABLE:
                log.warning("request id %.100r cannot be sent back: its reply is dropped", reply.get("id"))
