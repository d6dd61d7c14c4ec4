"""The one dispatcher: every transport hands its messages to a ``Channel``.

A channel is one client connection (a widget, the server's comm). It resolves the
action (``_resolve``), validates the arguments and runs the action on the kernel's main
thread (``_calls``), and sends the replies back through the transport's ``send``
(``_outbox``). Sync actions run at once; async actions, generators and async generators
run as tasks on the kernel's event loop, so a slow one does not hold up the others, and
can be cancelled by id. A ``serial`` channel (a widget's default) runs one call at a
time, in order. Files sent ahead in chunks wait in the client's ``Uploads``.

A transport is thin: it hands ``receive`` what arrived (from any thread) and
delivers what ``send`` is given. What a widget adds (its own actions only, bound
arguments, previous state) it says through ``resolve``.

Threads: a message that arrives on another thread than the main one (an ipykernel
subshell's) is unpacked and resolved there. A ``threadsafe`` action's invoke, and
upload chunks, are handled in place by a *lane* (``_lanes``): a channel of the same
client bound to that thread and its event loop, sharing the client's uploads.
Everything else is handed to the main thread, in order, and the client is told if it
has to wait (``waiting``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, cast

from ._action import Action
from ._caller import CallerOf, widget_caller
from ._calls import Calls
from ._kernel import cell_running, kernel_loop, on_main_thread
from ._lanes import CancelQueued, Lanes, loop_of_this_thread, sort_out
from ._log import log
from ._outbox import Outbox
from ._protocol import PROTOCOL_ERROR, Buffer, InvokeRequest, Send, unpack
from ._registry import Registry, registry
from ._resolve import Resolve, Target, by_registry
from ._threads import CELL_RUNNING, MAIN_THREAD_BUSY, WAITING_NOTICE_SECONDS
from ._uploads import DEFAULT_MAX_UPLOAD_BYTES, UploadRefused, Uploads

# A transport builds a Channel, and what its ``resolve`` returns: both from here.
__all__ = ["Channel", "Target"]


class Channel:
    """One client connection's view of the dispatcher. ``receive`` is thread-safe.

    ``resolve`` says what an invoke runs (default: ``by_registry(actions, allow)``).
    ``serial``: invokes run one at a time, in the order they arrived (a widget's
    queue); a cancel drops a queued one. ``batch_replies``: replies ready together
    leave as one ``batch`` message (the server's comm). ``caller`` says who made an invoke
    (``current_user()``): by default the server's user (a widget's caller), whatever it says.
    """

    def __init__(
        self,
        send: Send,
        *,
        resolve: Resolve | None = None,
        serial: bool = False,
        include_traceback: bool = False,
        batch_replies: bool = False,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
        allow: Callable[[Action[Any]], bool] | None = None,
        actions: Registry = registry,
        caller: CallerOf = widget_caller,
    ) -> None:
        if resolve is not None and (allow is not None or actions is not registry):
            message = "pass either resolve or allow/actions: resolve replaces the registry lookup they configure"
            raise TypeError(message)
        self._setup(
            send,
            resolve or by_registry(actions, allow),
            actions,
            Uploads(max_upload_bytes),
            caller,
            serial=serial,
            include_traceback=include_traceback,
            batch_replies=batch_replies,
            loop=kernel_loop(),
            is_lane=False,
        )

    def _setup(
        self,
        send: Send,
        resolve: Resolve,
        actions: Registry,
        uploads: Uploads,
        caller: CallerOf,
        *,
        serial: bool,
        include_traceback: bool,
        batch_replies: bool,
        loop: asyncio.AbstractEventLoop | None,
        is_lane: bool,
    ) -> None:
        self._send = send
        self._resolve = resolve
        self._caller = caller
        self._registry = actions  # what a "list" request lists: the exported actions
        self._serial = serial
        self._include_traceback = include_traceback
        self._batch_replies = batch_replies
        # The client's uploads, shared with its lanes: a chunk is taken in on whatever
        # thread it arrives on.
        self._uploads = uploads
        self._loop = loop
        # A lane runs on its own loop's thread; the channel itself on the kernel's main one.
        self._is_lane = is_lane
        # Lanes for threadsafe actions, one per event loop they arrive on.
        self._lanes: Lanes[Channel] = Lanes(self._new_lane)
        # Invokes handed to the main thread that it has not picked up yet.
        self._handed: set[str] = set()
        self._outbox = Outbox(send, batch=batch_replies)
        self._calls = Calls(
            resolve, uploads, self._outbox, caller=caller, serial=serial, include_traceback=include_traceback
        )

    def _new_lane(self, loop: asyncio.AbstractEventLoop) -> Channel:
        lane = Channel.__new__(Channel)
        lane._setup(
            self._send,
            self._resolve,
            self._registry,
            self._uploads,
            self._caller,
            serial=self._serial,
            include_traceback=self._include_traceback,
            batch_replies=self._batch_replies,
            loop=loop,
            is_lane=True,
        )
        return lane

    @property
    def serial(self) -> bool:
        return self._serial

    @serial.setter
    def serial(self, value: bool) -> None:
        if value == self._serial:
            return
        self._serial = self._calls.serial = value  # turned off: what is queued starts now
        self._on_kernel_thread(self._resume)
        for lane in self._lanes.all():
            lane.serial = value

    def _resume(self) -> None:
        self._calls.pump()
        self._outbox.flush()

    def _on_kernel_thread(self, work: Callable[..., None], *args: Any) -> None:
        """Do ``work`` on this channel's thread (the kernel's main thread; a lane's own),
        handed over from wherever we are.

        User state made in cells may be bound to the main thread (sqlite3) and is not
        locked against a running cell, so actions run there unless they are threadsafe.
        """
        if self._loop is not None and not self._at_home():
            try:
                self._loop.call_soon_threadsafe(work, *args)
            except RuntimeError:  # a lane whose subshell was deleted: its loop, and its work, are gone
                log.debug("dropped work for a closed event loop: %r", work)
        else:
            work(*args)

    def _at_home(self) -> bool:
        if self._is_lane:
            return self._loop is not None and loop_of_this_thread(self._loop)
        return on_main_thread()

    # --- receiving ----------------------------------------------------------------

    def receive(self, message: Any, buffers: Sequence[Buffer] = ()) -> None:
        """Handle one transport message (possibly a batch) from any thread."""
        if self._loop is None or self._is_lane or self._at_home():
            self._on_kernel_thread(self._receive_here, unpack(message), list(buffers))
        else:
            self._receive_elsewhere(unpack(message), list(buffers))

    def _receive_here(self, items: list[Any], buffers: list[Buffer]) -> None:
        for item in items:
            if isinstance(item, CancelQueued):
                self._cancel(item.rid, uploads=False, lanes=False)
                continue
            if isinstance(item, dict) and item.get("kind") == "invoke":
                self._handed.discard(str(item.get("id")))
            self._handle(item, buffers)
        self._outbox.flush()

    def _receive_elsewhere(self, items: list[Any], buffers: list[Buffer]) -> None:
        """On another thread than the main one (a subshell's): threadsafe invokes and
        upload chunks are handled here, by this thread's lane; the rest goes to the main
        thread, in order."""
        here, home = sort_out(items, self._runs_anywhere)
        if home:
            self._hand_home(home, buffers)
        if here:
            lane = self._lanes.here()
            lane._on_kernel_thread(lane._receive_here, here, buffers)

    def _runs_anywhere(self, message: Any) -> bool:
        """Whether an invoke's target is threadsafe (resolved here, on the arriving thread)."""
        try:
            target = self._resolve(cast("InvokeRequest", message))
        except Exception:  # resolving beside a running cell failed: the main thread decides
            return False
        return isinstance(target, Target) and target.action.threadsafe

    def _hand_home(self, items: list[Any], buffers: list[Buffer]) -> None:
        rids = [item["id"] for item in items if isinstance(item, dict) and item.get("kind") == "invoke"]
        rids = [rid for rid in rids if isinstance(rid, str)]
        self._handed.update(rids)
        self._on_kernel_thread(self._receive_here, items, buffers)
        if rids:
            self._tell_if_waiting(rids)

    def _tell_if_waiting(self, rids: list[str]) -> None:
        """Tell the client why an invoke waits, if the main thread does not pick it up soon."""

        def check() -> None:
            waiting = [rid for rid in rids if rid in self._handed]
            if not waiting:
                return
            why = CELL_RUNNING if cell_running() else MAIN_THREAD_BUSY
            for rid in waiting:
                self._send({"kind": "waiting", "id": rid, "message": why}, [])

        try:
            asyncio.get_running_loop().call_later(WAITING_NOTICE_SECONDS, check)
        except RuntimeError:  # no loop on this thread to check later: say it now if a cell runs
            if cell_running():
                check()

    def _handle(self, message: Any, buffers: list[Buffer]) -> None:
        if not isinstance(message, dict) or not isinstance(message.get("id"), str):
            log.warning("ignored a malformed message (no string 'id'): %.200r", message)
            return
        rid: str = message["id"]
        kind = message.get("kind")
        try:
            if kind == "invoke":
                self._calls.enqueue(cast("InvokeRequest", message), buffers)
            elif kind == "cancel":
                self._cancel(rid, uploads=True, lanes=True)
            elif kind == "upload":
                self._upload(message, buffers)
            elif kind == "list":
                infos = [a.info() for a in self._registry.exported_actions()]
                self._outbox.put({"kind": "actions", "id": rid, "actions": infos})
            else:
                self._calls.fail(rid, PROTOCOL_ERROR, f"unknown message kind {kind!r}")
        except Exception as err:  # a bug of ours must not kill the comm: report it
            self._calls.error(rid, err)

    def _cancel(self, rid: str, *, uploads: bool, lanes: bool) -> None:
        if self._calls.cancel(rid):
            return
        if uploads and self._uploads.discard(rid):  # an upload abandoned half-way
            self._outbox.put({"kind": "cancelled", "id": rid})
        elif lanes:  # a threadsafe call that arrived on another thread than this cancel
            for lane in self._lanes.all():
                lane._on_kernel_thread(lane._receive_here, [CancelQueued(rid)], [])

    def _upload(self, message: dict[str, Any], buffers: list[Buffer]) -> None:
        uid = message["id"]
        try:
            size = self._uploads.receive(message, buffers)
        except UploadRefused as err:
            self._calls.fail(uid, err.kind, str(err))
        else:
            self._outbox.put({"kind": "uploaded", "id": uid, "size": size})

    def close(self) -> None:
        """The client went away: drop its queued calls, cancel what it started and drop
        its uploads. Thread-safe."""
        self._on_kernel_thread(self._close_here)
        for lane in self._lanes.all():
            lane.close()

    def _close_here(self) -> None:
        self._calls.close()
        self._handed.clear()
        self._uploads.discard_all()
