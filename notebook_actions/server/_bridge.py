"""One bridge per kernel: a single comm that all HTTP requests to that kernel share.

Requests are multiplexed by id; those made in the same turn of the event loop (under
load, many) leave as one comm message, a ``batch``, and the kernel answers in batches
too. A lone request leaves at the end of its turn: no timer, no added wait.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from .._protocol import COMM_TARGET, FINAL_KINDS, UPLOAD_TOO_LARGE, Buffer, pack, split
from ._errors import (
    Internal,
    KernelBusy,
    KernelDied,
    KernelGone,
    NotLoaded,
    ServiceError,
    TimedOut,
    TooLarge,
    Unsendable,
)
from ._transport import KernelMessage, Transport, Unencodable

__all__ = ["Bridge", "Call", "KernelBusy", "KernelGone", "NotLoaded", "TimedOut", "Unsendable", "Upload"]

Reply = tuple[dict[str, Any], list[Buffer]]
#: A message waiting to leave: the message, its files, and the request it carries, if any.
Queued = tuple[dict[str, Any], list[Buffer], "Call | None"]

#: How long to wait for the kernel's iopub before nudging it with a kernel_info_request
#: (then twice as long each time, up to the maximum).
NUDGE_SECONDS = 0.05
MAX_NUDGE_SECONDS = 5.0

#: Comm messages whose idle status is awaited, at most.
MAX_TRACKED = 10_000

#: Most bytes of files one batch carries (a request's own may be more): a kernel gateway
#: refuses websocket messages over 10 MiB by default.
MAX_BATCH_BUFFER_BYTES = 8 << 20

LOAD_HINT = "run %load_ext notebook_actions in the notebook first (then its %%use_server cells)"

THREADSAFE_HINT = (
    "Actions marked threadsafe (%%use_server --threadsafe, or @action(threadsafe=True)) answer "
    "while a cell runs (on ipykernel >= 7)"
)


class Call:
    """One request in flight; the kernel's replies to it queue here, in order."""

    __slots__ = ("_waiter", "bridge", "failure", "finished", "id", "replies", "started", "waiting")

    def __init__(self, bridge: Bridge, rid: str) -> None:
        self.bridge = bridge
        self.id = rid
        self.replies: deque[Reply] = deque()
        self.started = False  # the kernel has begun handling the message that carried it
        self.waiting: str | None = None  # why the kernel said it waits (a running cell)
        self.finished = False
        self.failure: ServiceError | None = None
        self._waiter: asyncio.Future[bool] | None = None

    def _push(self, reply: dict[str, Any], buffers: list[Buffer]) -> None:
        self.started = True
        self.replies.append((reply, buffers))
        if reply.get("kind") in FINAL_KINDS:
            self.finished = True
        self._wake(False)

    def _fail(self, error: ServiceError) -> None:
        if not self.finished:
            self.finished = True
            self.failure = error
            self._wake(False)

    def _wake(self, expired: bool) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(expired)

    async def reply(self, timeout: float, *, budget: float | None = None) -> Reply:
        """The next reply; ``TimedOut`` or ``KernelBusy`` after ``timeout`` seconds without one
        (saying ``budget`` seconds, when this wait is what is left of a longer one)."""
        if not self.replies:
            if self.failure is None:
                loop = asyncio.get_running_loop()
                waiter = self._waiter = loop.create_future()
                timer = loop.call_later(timeout, self._wake, True)
                try:
                    expired = await waiter
                finally:
                    timer.cancel()
                    self._waiter = None
                if expired and not self.replies:
                    raise self._timeout(timeout if budget is None else budget)
            if not self.replies:
                assert self.failure is not None
                raise self.failure
        return self.replies.popleft()

    def _timeout(self, timeout: float) -> ServiceError:
        if self.started:
            return TimedOut(f"the action did not finish within {timeout:g} s: it was cancelled in the kernel")
        if self.waiting is not None:
            return KernelBusy(
                f"the kernel did not start the request within {timeout:g} s: it is busy ({self.waiting}); "
                f"try again when it is idle. {THREADSAFE_HINT}"
            )
        return KernelBusy(
            f"the kernel did not start the request within {timeout:g} s: it is busy (a cell is "
            f"running, or another action is); try again when it is idle. {THREADSAFE_HINT}"
        )

    def cancel(self) -> None:
        """Give up on this request: tell the kernel to cancel it, forget its replies."""
        if not self.finished:
            self.finished = True
            self.failure = KernelGone("the request was cancelled")
            self._wake(False)
            self.bridge._cancel(self)


class Bridge:
    """The comm between this server and one kernel's ``notebook_actions`` target."""

    def __init__(
        self,
        kernel_id: str,
        make_transport: Callable[[Sequence[bytes]], Transport],
        *,
        log: logging.Logger,
        on_close: Callable[[Bridge], None] = lambda bridge: None,
    ) -> None:
        self.kernel_id = kernel_id
        self.comm_id = uuid.uuid4().hex
        self.log = log
        self._topics = (f"comm-{self.comm_id}", "kernel.")
        self._transport = make_transport([topic.encode() for topic in self._topics])
        self._on_close = on_close
        self._ids = itertools.count(1)
        self._calls: dict[str, Call] = {}
        self._outbox: list[tuple[dict[str, Any], list[Buffer], Call | None]] = []
        self._flush_handle: asyncio.Handle | None = None
        # comm messages sent, by msg id, with the calls they carry, until the kernel is idle again
        self._sent: dict[str, list[Call]] = {}
        self._opening: asyncio.Future[None] | None = None
        self._heard: asyncio.Future[None] | None = None  # first iopub message received
        self._ready: asyncio.Future[None] | None = None  # the comm answered "ready"
        #: the kernel subshell our messages go to (threadsafe actions answer there), if any
        self.subshell_id: str | None = None
        self.is_open = False
        self.closed: ServiceError | None = None
        #: the kernel's process id when the bridge was made, where known
        self.process: int | None = None
        #: comm messages sent with requests, and requests sent (batching makes these differ)
        self.messages_sent = 0
        self.requests_sent = 0
        #: called when the kernel says its exported actions changed (a %%use_server cell ran)
        self.on_actions_changed: list[Callable[[], None]] = []

    # --- opening ------------------------------------------------------------------

    async def ready(self, timeout: float) -> None:
        """Open the comm (once); ``NotLoaded``, ``KernelBusy`` or ``KernelGone`` if it cannot."""
        if self.is_open:
            return
        if self.closed is not None:
            raise self.closed
        if self._opening is None:
            self._opening = asyncio.ensure_future(self._open())
            self._opening.add_done_callback(_retrieve)
        try:
            await asyncio.wait_for(asyncio.shield(self._opening), timeout)
        except asyncio.TimeoutError:
            message = (
                f"the kernel did not answer within {timeout:g} s: it is busy (a cell is "
                "running) or not responding; try again when it is idle"
            )
            raise KernelBusy(message) from None

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        self._heard = loop.create_future()
        self._ready = loop.create_future()
        try:
            await self._transport.start(self._on_message, self._lost)
            # Subscriptions take a moment to reach the kernel: until some iopub message
            # arrives, replies could be lost. ipykernel >= 7 greets new subscribers; older
            # kernels answer a kernel_info_request with status messages.
            wait = NUDGE_SECONDS
            while not self._heard.done():
                await asyncio.wait([self._heard], timeout=wait)
                if not self._heard.done() and self.closed is None:
                    self._transport.send("kernel_info_request", {})
                    wait = min(wait * 2, MAX_NUDGE_SECONDS)  # a busy kernel queues them
            if self.closed is not None:
                raise self.closed
            self.subshell_id = await self._transport.open_subshell()
            self._transport.send("comm_open", {"comm_id": self.comm_id, "target_name": COMM_TARGET, "data": {}})
            await self._ready
        except ServiceError as err:
            self.close(err)
            raise
        except Exception as err:
            self.log.exception("notebook_actions: could not open a comm in kernel %s", self.kernel_id)
            gone = KernelGone(f"could not connect to the kernel: {type(err).__name__}")
            self.close(gone)
            raise gone from None
        self.is_open = True

    def _lost(self, reason: str) -> None:
        self.close(KernelGone(reason))

    # --- receiving ----------------------------------------------------------------

    def _on_message(self, msg: KernelMessage) -> None:
        if self.closed is not None:
            return
        kind = msg.msg_type
        content = msg.content
        if kind == "comm_msg":
            if content.get("comm_id") == self.comm_id:
                self._on_data(content.get("data"), msg.buffers)
        elif kind == "status":
            state = content.get("execution_state")
            calls = self._sent.get(msg.parent_id)
            if calls is not None:
                if state == "busy":
                    for call in calls:
                        call.started = True
                elif state == "idle":
                    del self._sent[msg.parent_id]
            elif self.is_open and state in ("starting", "restarting", "dead"):
                self.close(
                    KernelDied(
                        f"the kernel is {state}: its actions are gone until %load_ext notebook_actions runs again"
                    )
                )
                return
        elif kind == "iopub_welcome":
            if self.is_open and content.get("subscription") in self._topics:
                # The kernel greets a topic only when no one was subscribed to it, and we
                # are: a new kernel process is greeting us. The old one, and our comm, are gone.
                self.close(KernelDied("the kernel restarted"))
                return
        elif kind == "comm_close" and content.get("comm_id") == self.comm_id:
            if self._ready is not None and not self._ready.done():
                self._ready.set_exception(
                    NotLoaded(f"notebook-actions is not loaded in kernel {self.kernel_id}: {LOAD_HINT}")
                )
            else:
                self.close(KernelGone("the kernel closed its notebook-actions comm"))
            return
        if self._heard is not None and not self._heard.done():
            self._heard.set_result(None)

    def _on_data(self, data: Any, buffers: list[Buffer]) -> None:
        for reply, own in split(data, buffers):
            self._route(reply, own)

    def _route(self, reply: dict[str, Any], buffers: list[Buffer]) -> None:
        kind = reply.get("kind")
        if kind == "ready":
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(None)
            return
        if kind == "changed":
            for listener in list(self.on_actions_changed):
                listener()
            return
        rid = reply.get("id")
        call = self._calls.get(rid) if isinstance(rid, str) else None
        if call is None:
            return  # a reply to a request given up on
        if kind == "waiting":  # handed to the kernel's main thread, which is busy: not started
            call._push(reply, buffers)
            call.started = False
            call.waiting = str(reply.get("message") or "a cell is running")
            return
        call._push(reply, buffers)
        if call.finished and kind != "uploaded":
            self._forget(call)

    # --- sending ------------------------------------------------------------------

    def request(self, message: dict[str, Any], buffers: Sequence[Buffer] = ()) -> Call:
        """Send ``message`` (an invoke or list request without id) and return its call."""
        if self.closed is not None:
            raise self.closed
        call = Call(self, f"{next(self._ids):x}")
        message["id"] = call.id
        self._calls[call.id] = call
        self._queue(message, list(buffers), call)
        return call

    def _queue(self, message: dict[str, Any], buffers: list[Buffer], call: Call | None) -> None:
        # Requests made in the same turn of the event loop leave together, at the end of it.
        # (Measured here: holding them longer, until the kernel is idle again, or sending a
        # lone request at once, both gave fewer requests per second, not more.)
        self._outbox.append((message, buffers, call))
        if self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        outbox, self._outbox = self._outbox, []
        for batch in _batches(outbox):
            if self.closed is not None:
                return
            self._send_batch(batch)

    def _send_batch(self, outbox: list[Queued]) -> None:
        data, buffers = pack([(message, own) for message, own, _ in outbox])
        calls = [call for _, _, call in outbox if call is not None]
        try:
            msg_id = self._transport.send("comm_msg", {"comm_id": self.comm_id, "data": data}, buffers)
        except Unencodable as err:
            # One request's content cannot be coded (the kernel is fine): it alone fails.
            if len(outbox) > 1:
                for item in outbox:
                    if self.closed is None:
                        self._send_batch([item])
            elif calls:
                self._refuse(calls[0], err)
            return
        except Exception as err:
            self.log.warning("notebook_actions: sending to kernel %s failed: %s", self.kernel_id, err)
            self.close(KernelGone(f"could not send to the kernel: {type(err).__name__}"))
            return
        self.messages_sent += 1
        self.requests_sent += len(calls)
        if calls:
            if len(self._sent) >= MAX_TRACKED:  # status messages lost: forget the oldest
                del self._sent[next(iter(self._sent))]
            self._sent[msg_id] = calls

    def _refuse(self, call: Call, err: Unencodable) -> None:
        self._calls.pop(call.id, None)
        call._fail(Unsendable(f"the request cannot be sent to the kernel: {err}"))

    def _send_now(self, data: dict[str, Any], buffers: Sequence[Buffer]) -> None:
        """Send one message on its own (upload chunks: their buffer is always buffer 0)."""
        if self.closed is not None:
            raise self.closed
        try:
            self._transport.send("comm_msg", {"comm_id": self.comm_id, "data": data}, buffers)
        except Unencodable as err:
            raise Unsendable(f"the upload cannot be sent to the kernel: {err}") from None
        except Exception as err:
            gone = KernelGone(f"could not send to the kernel: {type(err).__name__}")
            self.close(gone)
            raise gone from None

    def _cancel(self, call: Call) -> None:
        if self._calls.pop(call.id, None) is not None and self.closed is None:
            self._queue({"kind": "cancel", "id": call.id}, [], None)

    def _forget(self, call: Call) -> None:
        self._calls.pop(call.id, None)

    # --- uploads ------------------------------------------------------------------

    def upload(self, name: str, content_type: str, *, timeout: float, window: int = 2) -> Upload:
        if self.closed is not None:
            raise self.closed
        call = Call(self, f"u{next(self._ids):x}")
        self._calls[call.id] = call
        return Upload(self, call, name, content_type, timeout=timeout, window=window)

    # --- closing ------------------------------------------------------------------

    def close(self, error: ServiceError) -> None:
        """Fail every request in flight with ``error`` and close the comm and connection."""
        if self.closed is not None:
            return
        self.closed = error
        if self.is_open and not isinstance(error, KernelDied):  # a new process knows no such comm
            try:
                self._transport.send("comm_close", {"comm_id": self.comm_id, "data": {}})
            except Exception:
                self.log.debug("notebook_actions: comm_close not sent", exc_info=True)
        self.is_open = False
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        calls = list(self._calls.values())
        self._calls.clear()
        self._outbox.clear()
        self._sent.clear()
        for call in calls:
            call._fail(error)
        for future in (self._heard, self._ready):
            if future is not None and not future.done():
                future.set_exception(error)
                future.add_done_callback(_retrieve)
        self._transport.close(process_gone=isinstance(error, KernelDied))
        self._on_close(self)

    @property
    def in_flight(self) -> int:
        return len(self._calls)


class Upload:
    """A file sent to the kernel in chunks, at most ``window`` unacknowledged at once."""

    def __init__(
        self, bridge: Bridge, call: Call, name: str, content_type: str, *, timeout: float, window: int
    ) -> None:
        self.bridge = bridge
        self.id = call.id
        self._call = call
        self._name = name
        self._content_type = content_type
        self._timeout = timeout
        self._window = window
        self._sent = 0
        self._acked = 0
        self.size = 0
        self.done = False
        self._aborted = False

    async def write(self, chunk: Buffer, *, final: bool = False) -> None:
        while self._sent - self._acked >= self._window:
            await self._ack()
        data: dict[str, Any] = {"kind": "upload", "id": self.id, "final": final}
        if self._sent == 0:
            data.update(name=self._name, content_type=self._content_type)
        self.bridge._send_now(data, [chunk])
        self._sent += 1
        self.size += len(chunk)
        if final:
            while self._acked < self._sent:
                await self._ack()
            self.done = True
            self.bridge._calls.pop(self.id, None)

    async def _ack(self) -> None:
        reply, _ = await self._call.reply(self._timeout)
        while reply.get("kind") == "waiting":  # (chunks are taken where they arrive: not expected)
            reply, _ = await self._call.reply(self._timeout)
        if reply.get("kind") == "uploaded":
            self._acked += 1
            return
        self.abort()
        if reply.get("type") == UPLOAD_TOO_LARGE:
            raise TooLarge(str(reply.get("message", "the file is too large")))
        raise Internal(f"the kernel refused the upload: {reply.get('type')}")

    def abort(self) -> None:
        """The upload will not be used: the kernel drops what it holds of it (the
        protocol's cancel of the upload's id), and the bridge goes on serving."""
        if self._aborted:
            return
        self._aborted = True
        self.bridge._calls.pop(self.id, None)
        self._call._fail(KernelGone("the upload was abandoned"))  # wake a write waiting for an ack
        if self._sent and self.bridge.closed is None:
            self.bridge._queue({"kind": "cancel", "id": self.id}, [], None)


def _batches(outbox: list[Queued]) -> list[list[Queued]]:
    """The outbox in order, cut so that no batch carries more than ``MAX_BATCH_BUFFER_BYTES`` of files."""
    batches: list[list[Queued]] = []
    size = 0
    for item in outbox:
        own = sum(len(buffer) for buffer in item[1])
        if not batches or (own and size + own > MAX_BATCH_BUFFER_BYTES):
            batches.append([])
            size = 0
        batches[-1].append(item)
        size += own
    return batches


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
