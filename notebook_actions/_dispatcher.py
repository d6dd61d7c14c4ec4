"""The one dispatcher: every transport hands its messages to a ``Channel``.

A channel is one client connection (a widget, the server's comm). It resolves the
action, validates the arguments, runs the action on the kernel's main thread, and
sends the replies back through the transport's ``send``. Sync actions run at once;
async actions, generators and async generators run as tasks on the kernel's event
loop, so a slow one does not hold up the others, and can be cancelled by id. A
``serial`` channel (a widget's default) runs one call at a time, in order.

A transport is thin: it hands ``receive`` what arrived (from any thread) and
delivers what ``send`` is given. What a widget adds (its own actions only, bound
arguments, previous state) it says through ``resolve``.

Threads: a message that arrives on another thread than the main one (an ipykernel
subshell's) is unpacked and resolved there. A ``threadsafe`` action's invoke, and
upload chunks, are handled in place by a *lane*: a channel of the same client bound to
that thread and its event loop (see ``_threads``). Everything else is handed to the
main thread, in order, and the client is told if it has to wait (``waiting``).
"""

from __future__ import annotations

import asyncio
import inspect
import os
import secrets
import threading
import time
import traceback
import types
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from ._action import Action
from ._caller import CallerOf, calling_as, widget_caller
from ._files import UploadedFile
from ._kernel import cell_running, kernel_loop, on_main_thread
from ._log import log
from ._progress import Progress
from ._protocol import (
    PROTOCOL_ERROR,
    UNSERIALIZABLE_RESULT,
    UPLOAD_TOO_LARGE,
    Buffer,
    ErrorReply,
    FileRef,
    InvokeRequest,
    ProgressInfo,
    Reply,
    Send,
    pack,
    unpack,
)
from ._registry import Registry, registry
from ._schema import InvalidArguments, Signature, UnserializableResult
from ._threads import CELL_RUNNING, MAIN_THREAD_BUSY, WAITING_NOTICE_SECONDS, loop_here, thread_bound_hint

DEFAULT_MAX_UPLOAD_BYTES = 1 << 30

#: A reply waits for the sync action that runs after it (so that several leave as one
#: transport message) only if that action last ran faster than this; otherwise the
#: reply leaves first. Replies of slow sync actions in one batch leave one by one.
HOLD_REPLIES_SECONDS = 0.001

ACTION_GONE = (
    "this action is no longer available in the kernel (the kernel restarted, "
    "or the cell that made it was re-run without it): re-run that cell"
)
NOT_AVAILABLE_HERE = "this action is not available here"


@dataclass(frozen=True)
class Target:
    """What an invoke runs: an action, and the arguments the kernel fixes for the call.

    ``args`` go first (a widget's bound arguments, a stateful widget's previous
    state), ``kwargs`` are fixed by name; clients neither see nor send either, and the
    arguments a client sends are validated against what is left. ``on_result`` sees
    each result as the client does (its JSON value, or ``bytes``).
    """

    action: Action[Any]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    on_result: Callable[[Any], object] | None = None

    @property
    def signature(self) -> Signature:
        return self.action.signature_fixing(len(self.args), frozenset(self.kwargs))

    def call(self, args: list[Any], kwargs: dict[str, Any]) -> Any:
        return self.action(*self.args, *args, **{**self.kwargs, **kwargs})


#: Says what an invoke runs, or why it cannot (the message of a ``not_found`` reply).
Resolve = Callable[[InvokeRequest], "Target | str"]


def by_registry(actions: Registry = registry, allow: Callable[[Action[Any]], bool] | None = None) -> Resolve:
    """Exported actions by ``name``, any action by its id; ``allow`` narrows them."""

    def resolve(message: InvokeRequest) -> Target | str:
        name = message.get("name")
        if isinstance(name, str):
            found = actions.exported(name)
            if found is None:
                return (
                    f"no exported action {name!r} in this kernel: run the %%use_server cell "
                    "that defines it (after %load_ext notebook_actions)"
                )
        else:
            found = actions.get(str(message.get("action")))
            if found is None:
                return ACTION_GONE
        if allow is not None and not allow(found):
            return NOT_AVAILABLE_HERE
        return Target(found)

    return resolve


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
        self._send = send
        self._caller = caller
        self._resolve = resolve or by_registry(actions, allow)
        self._registry = actions  # what a "list" request lists: the exported actions
        self._serial = serial
        self._include_traceback = include_traceback
        self._batch_replies = batch_replies
        self._max_upload_bytes = max_upload_bytes
        self._loop = kernel_loop()
        # A lane runs on its own loop's thread; the channel itself on the kernel's main one.
        self._is_lane = False
        # Lanes for threadsafe actions, one per event loop they arrive on; uploads are
        # shared with them (a chunk is taken in on whatever thread it arrives on).
        self._lanes: dict[asyncio.AbstractEventLoop, Channel] = {}
        self._lanes_lock = threading.Lock()
        self._uploads_lock = threading.Lock()
        # Invokes handed to the main thread that it has not picked up yet.
        self._handed: set[str] = set()
        # Invokes waiting for their turn (serial mode), by request id, in arrival
        # order; then those running as tasks.
        self._queue: dict[str, tuple[InvokeRequest, list[Buffer]]] = {}
        self._pumping = False
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._uploads: dict[str, UploadedFile] = {}
        self._finished_uploads: set[str] = set()
        self._outbox: list[tuple[Reply, list[Buffer]]] = []
        self._flush_scheduled = False
        # How long each sync action last ran (weakly: actions made per call come and go).
        self._sync_seconds: weakref.WeakKeyDictionary[Action[Any], float] = weakref.WeakKeyDictionary()

    @property
    def serial(self) -> bool:
        return self._serial

    @serial.setter
    def serial(self, value: bool) -> None:
        if value == self._serial:
            return
        self._serial = value  # turned off: what is queued starts now
        self._on_kernel_thread(self._resume)
        for lane in self._lanes_now():
            lane.serial = value

    def _resume(self) -> None:
        self._pump()
        self._flush()

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
            return self._loop is not None and _loop_of_this_thread(self._loop)
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
            if isinstance(item, _CancelQueued):
                self._cancel(item.rid, uploads=False, lanes=False)
                continue
            if isinstance(item, dict) and item.get("kind") == "invoke":
                self._handed.discard(str(item.get("id")))
            self._handle(item, buffers)
        self._flush()

    def _receive_elsewhere(self, items: list[Any], buffers: list[Buffer]) -> None:
        """On another thread than the main one (a subshell's): threadsafe invokes and
        upload chunks are handled here, by this thread's lane; the rest goes to the main
        thread, in order."""
        here: list[Any] = []
        home: list[Any] = []
        for item in items:
            kind = item.get("kind") if isinstance(item, dict) else None
            if kind == "upload" or (kind == "invoke" and self._runs_anywhere(item)):
                here.append(item)
            elif kind == "cancel" and isinstance(item.get("id"), str):
                here.append(item)  # its task (or upload) if it is in this lane,
                home.append(_CancelQueued(item["id"]))  # else the main thread's
            else:
                home.append(item)
        if home:
            self._hand_home(home, buffers)
        if here:
            lane = self._lane()
            lane._on_kernel_thread(lane._receive_here, here, buffers)

    def _runs_anywhere(self, message: Any) -> bool:
        """Whether an invoke's target is threadsafe (resolved here, on the arriving thread)."""
        try:
            target = self._resolve(cast(InvokeRequest, message))
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

    def _lane(self) -> Channel:
        """This thread's lane: a channel of the same client on this thread's event loop."""
        loop = loop_here()
        with self._lanes_lock:
            lane = self._lanes.get(loop)
            if lane is None:
                lane = self._lanes[loop] = self._new_lane(loop)
            return lane

    def _new_lane(self, loop: asyncio.AbstractEventLoop) -> Channel:
        lane = Channel(
            self._send,
            resolve=self._resolve,
            caller=self._caller,
            serial=self._serial,
            include_traceback=self._include_traceback,
            batch_replies=self._batch_replies,
            max_upload_bytes=self._max_upload_bytes,
        )
        lane._loop = loop
        lane._is_lane = True
        lane._registry = self._registry
        lane._uploads = self._uploads  # shared: an upload may be taken by either side
        lane._finished_uploads = self._finished_uploads
        lane._uploads_lock = self._uploads_lock
        return lane

    def _lanes_now(self) -> list[Channel]:
        with self._lanes_lock:
            return list(self._lanes.values())

    def _handle(self, message: Any, buffers: list[Buffer]) -> None:
        if not isinstance(message, dict) or not isinstance(message.get("id"), str):
            log.warning("ignored a malformed message (no string 'id'): %.200r", message)
            return
        rid: str = message["id"]
        kind = message.get("kind")
        try:
            if kind == "invoke":
                self._enqueue(cast(InvokeRequest, message), buffers)
            elif kind == "cancel":
                self._cancel(rid, uploads=True, lanes=True)
            elif kind == "upload":
                self._upload(message, buffers)
            elif kind == "list":
                infos = [a.info() for a in self._registry.exported_actions()]
                self._emit({"kind": "actions", "id": rid, "actions": infos})
            else:
                self._fail(rid, PROTOCOL_ERROR, f"unknown message kind {kind!r}")
        except Exception as err:  # a bug of ours must not kill the comm: report it
            self._error(rid, err)

    def _cancel(self, rid: str, *, uploads: bool, lanes: bool) -> None:
        task = self._tasks.get(rid)
        if task is not None:
            task.cancel()  # the task answers "cancelled" itself
        elif self._queue.pop(rid, None) is not None or (uploads and self._discard_upload(rid)):
            # queued behind another call: it never runs; or an upload abandoned half-way
            self._emit({"kind": "cancelled", "id": rid})
        elif lanes:  # a threadsafe call that arrived on another thread than this cancel
            for lane in self._lanes_now():
                lane._on_kernel_thread(lane._receive_here, [_CancelQueued(rid)], [])

    # --- uploads ------------------------------------------------------------------

    def _upload(self, message: dict[str, Any], buffers: list[Buffer]) -> None:
        uid = message["id"]
        with self._uploads_lock:
            finished = uid in self._finished_uploads
        if finished:
            # (it was read back from the start: more bytes would overwrite the file)
            self._fail(uid, PROTOCOL_ERROR, f"upload {uid!r} is finished: send another file under a new upload id")
            return
        index = message.get("buffer", 0)
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(buffers):
            # A chunk without its bytes would leave a hole in the file, acknowledged as fine.
            self._discard_upload(uid)
            text = f"a chunk of upload {uid!r} refers to buffer {index!r}, which was not sent: the upload is dropped"
            self._fail(uid, PROTOCOL_ERROR, text)
            return
        with self._uploads_lock:
            upload = self._uploads.get(uid)
            if upload is None:
                upload = UploadedFile(str(message.get("name") or "file"), str(message.get("content_type") or ""))
                self._uploads[uid] = upload
        upload.write(buffers[index])
        if upload.size > self._max_upload_bytes:
            self._discard_upload(uid)
            limit = self._max_upload_bytes
            self._fail(uid, UPLOAD_TOO_LARGE, f"the file is larger than the upload limit of {limit} bytes")
            return
        if message.get("final"):
            upload.seek(0)
            self._finished_uploads.add(uid)
        self._emit({"kind": "uploaded", "id": uid, "size": upload.size})

    def _discard_upload(self, uid: str) -> bool:
        with self._uploads_lock:
            upload = self._uploads.pop(uid, None)
            self._finished_uploads.discard(uid)
        if upload is not None:
            upload.close()
        return upload is not None

    def _file(self, ref: FileRef, buffers: list[Buffer]) -> UploadedFile:
        if "upload" in ref:
            uid = ref["upload"]
            with self._uploads_lock:
                if uid not in self._finished_uploads:
                    message = f"upload {uid!r} is unknown or not finished: send all its chunks first"
                    raise ValueError(message)
                self._finished_uploads.discard(uid)
                upload = self._uploads.pop(uid)
            upload.name = ref.get("name") or upload.name
            return upload
        index = ref.get("buffer")
        if not isinstance(index, int) or not 0 <= index < len(buffers):
            message = f"file {ref.get('name')!r} refers to buffer {index!r}, which was not sent"
            raise ValueError(message)
        return UploadedFile.from_bytes(bytes(buffers[index]), ref.get("name") or "file", ref.get("content_type") or "")

    # --- invoking -----------------------------------------------------------------

    def _enqueue(self, message: InvokeRequest, buffers: list[Buffer]) -> None:
        rid = message["id"]
        if rid in self._tasks or rid in self._queue:
            self._fail(rid, PROTOCOL_ERROR, f"request id {rid!r} is already in flight: use a new id")
            return
        self._queue[rid] = (message, buffers)
        self._pump()

    def _pump(self) -> None:
        """Start queued invokes: all of them, or in serial mode one at a time."""
        if self._pumping:
            return
        self._pumping = True
        try:
            while self._queue and not (self._serial and self._tasks):
                rid = next(iter(self._queue))
                message, buffers = self._queue.pop(rid)
                try:
                    with calling_as(self._caller(message)):  # current_user() in the action and its task
                        self._invoke(message, buffers)
                except Exception as err:  # a bug of ours: this call fails, the queue goes on
                    self._error(rid, err)
        finally:
            self._pumping = False

    def _invoke(self, message: InvokeRequest, buffers: list[Buffer]) -> None:
        rid = message["id"]
        target = self._resolve(message)
        if isinstance(target, str):
            self._emit({"kind": "not_found", "id": rid, "message": target})
            return
        action = target.action
        raw: Any = message.get("args")
        raw = {} if raw is None else raw
        uploaded: list[UploadedFile] = []
        try:
            files = message.get("files")
            if files and isinstance(raw, dict):
                raw = dict(raw)
                by_name = {p.name: p for p in target.signature.params}
                for name, refs in files.items():
                    got = [self._file(ref, buffers) for ref in refs]
                    uploaded += got
                    param = by_name.get(name)
                    raw[name] = got if param is None or param.is_many else got[-1]
            args, kwargs = target.signature.validate(raw, form=message.get("encoding") == "form")
        except InvalidArguments as err:
            _close_all(uploaded)
            self._emit({"kind": "invalid", "id": rid, "errors": err.errors})
            return
        except (TypeError, ValueError) as err:
            _close_all(uploaded)
            self._fail(rid, type(err).__name__, str(err))
            return

        sync = not (action.is_async or action.streaming)
        if sync:
            self._before_sync(action)
        started = time.perf_counter()
        try:
            # A sync body runs here and now; an async one or a generator is only made
            # here, and runs in its task.
            value = target.call(args, kwargs)
        except Exception as err:
            _close_all(uploaded)
            self._error(rid, err, action)
            return
        finally:
            if sync:
                self._sync_seconds[action] = time.perf_counter() - started
        if action.streaming or inspect.isawaitable(value):
            self._start(rid, target, value, uploaded)
        else:
            _close_all(uploaded)
            self._result(rid, target, value)

    def _before_sync(self, action: Action[Any]) -> None:
        # Replies already made must not wait for a sync action that may take long: only
        # one known to be quick may run before they leave (and so share their message).
        if self._outbox and self._sync_seconds.get(action, float("inf")) >= HOLD_REPLIES_SECONDS:
            self._flush()

    def _start(self, rid: str, target: Target, work: Any, uploaded: list[UploadedFile]) -> None:
        """Run ``work`` (an awaitable, or a stream of chunks) as a task; the request's
        uploaded files are closed when it ends."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            if inspect.iscoroutine(work):
                work.close()  # never awaited, and that is on purpose
            _close_all(uploaded)
            message = (
                "no event loop is running here: async and streaming actions run in a "
                "kernel, or through notebook_actions.testing"
            )
            self._fail(rid, "RuntimeError", message)
            return
        coro = self._stream(rid, target, work) if target.action.streaming else self._settle(rid, target, work)
        task = loop.create_task(coro)
        self._tasks[rid] = task

        def done(_: object) -> None:
            if task.cancelled():  # before it started: nothing in it could answer
                if inspect.iscoroutine(work):
                    work.close()  # never awaited, on purpose
                self._emit({"kind": "cancelled", "id": rid})
            self._tasks.pop(rid, None)
            _close_all(uploaded)
            self._pump()  # in serial mode, the next call in line
            self._schedule_flush()

        task.add_done_callback(done)

    async def _settle(self, rid: str, target: Target, awaitable: Any) -> None:
        """An async action (or a sync one that returned an awaitable): its one result."""
        try:
            value = await awaitable
        except asyncio.CancelledError:
            self._emit({"kind": "cancelled", "id": rid})
            self._flush()
            return
        except Exception as err:
            self._error(rid, err, target.action)
        else:
            self._result(rid, target, value)
        self._schedule_flush()

    async def _stream(self, rid: str, target: Target, stream: Any) -> None:
        """A generator or async generator action: its chunks, then ``end``."""
        seq = 0
        try:
            if hasattr(stream, "__anext__"):
                async for chunk in stream:
                    self._chunk(rid, target, seq, chunk)
                    seq += 1
                    self._schedule_flush()
            else:
                for chunk in stream:
                    self._chunk(rid, target, seq, chunk)
                    seq += 1
                    self._schedule_flush()
                    # Let other requests, and a cancel for this one, in between chunks.
                    await asyncio.sleep(0)
            self._emit({"kind": "end", "id": rid})
        except asyncio.CancelledError:
            self._emit({"kind": "cancelled", "id": rid})
            self._flush()
        except UnserializableResult as err:
            self._fail(rid, UNSERIALIZABLE_RESULT, str(err))
        except Exception as err:
            self._error(rid, err, target.action)
        finally:
            await _close_stream(stream)
        self._schedule_flush()

    # --- replying -----------------------------------------------------------------

    def _result(self, rid: str, target: Target, value: Any) -> None:
        if isinstance(value, (bytes, bytearray, memoryview)):
            self._emit({"kind": "result", "id": rid, "value": None, "buffer": 0}, [value])
            seen: Any = bytes(value)
        else:
            try:
                seen = target.signature.dump_result(value)
            except UnserializableResult as err:
                self._fail(rid, UNSERIALIZABLE_RESULT, str(err))
                return
            self._emit({"kind": "result", "id": rid, "value": seen})
        if target.on_result is not None:
            try:
                target.on_result(seen)
            except Exception:
                log.exception("the on_result callback of action %r raised", target.action.name)

    def _chunk(self, rid: str, target: Target, seq: int, chunk: Any) -> None:
        if isinstance(chunk, Progress):
            progress: ProgressInfo = {"value": chunk.value, "total": chunk.total, "message": chunk.message}
            self._emit({"kind": "chunk", "id": rid, "seq": seq, "value": None, "progress": progress})
        elif isinstance(chunk, (bytes, bytearray, memoryview)):
            self._emit({"kind": "chunk", "id": rid, "seq": seq, "value": None, "buffer": 0}, [chunk])
        else:
            self._emit({"kind": "chunk", "id": rid, "seq": seq, "value": target.signature.dump_result(chunk)})

    def _error(self, rid: str, err: BaseException, action: Action[Any] | None = None) -> None:
        digest = secrets.token_hex(6)
        text = "".join(traceback.format_exception(type(err), err, _user_frames(err.__traceback__)))
        where = f"action {action.name!r}" if action is not None else "notebook_actions"
        hint = thread_bound_hint(err) if action is not None and action.threadsafe else None
        if hint is not None:  # for the notebook's owner: the kernel log, a widget's traceback
            text += f"\nHint: {hint}\n"
        log.error("%s raised %s (digest %s), request %s\n%s", where, type(err).__name__, digest, rid, text)
        reply: ErrorReply = {
            "kind": "error",
            "id": rid,
            "type": type(err).__name__,
            "message": str(err),
            "digest": digest,
        }
        if self._include_traceback:
            reply["traceback"] = text
        self._emit(reply)

    def _fail(self, rid: str, kind: str, message: str) -> None:
        """An error of the request itself (not raised by the action): no traceback to log."""
        self._emit({"kind": "error", "id": rid, "type": kind, "message": message, "digest": ""})

    def _emit(self, reply: Reply, buffers: Sequence[Buffer] = ()) -> None:
        self._outbox.append((reply, list(buffers)))

    def _schedule_flush(self) -> None:
        # Replies made in the same turn of the loop (many tasks finishing together)
        # leave as one transport message when the transport batches.
        if self._flush_scheduled:
            return
        self._flush_scheduled = True
        asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        outbox, self._outbox = self._outbox, []
        if not outbox:
            return
        if not self._batch_replies or len(outbox) == 1:
            for reply, buffers in outbox:
                self._send_alone(reply, buffers)
            return
        message, buffers = pack(outbox)
        try:
            self._send(message, buffers)
        except UNCODABLE:
            # One reply cannot be coded for the wire: sent alone, only that one fails.
            for reply, own in outbox:
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
                self._send(cast(Reply, {**error, "digest": ""}), [])
            except UNCODABLE:
                log.warning("request id %.100r cannot be sent back: its reply is dropped", reply.get("id"))

    def close(self) -> None:
        """The client went away: drop its queued calls, cancel what it started and drop
        its uploads. Thread-safe."""
        self._on_kernel_thread(self._close_here)
        for lane in self._lanes_now():
            lane.close()

    def _close_here(self) -> None:
        self._queue.clear()
        self._handed.clear()
        for task in list(self._tasks.values()):
            task.cancel()
        for uid in list(self._uploads):
            self._discard_upload(uid)


@dataclass(frozen=True)
class _CancelQueued:
    """A cancel handed to another thread, for its queue and tasks only (uploads are
    shared: the thread the cancel arrived on took care of them)."""

    rid: str


def _loop_of_this_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


#: What coding a reply for the wire raises when a value cannot be carried.
UNCODABLE = (ValueError, TypeError, RecursionError)

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _user_frames(tb: types.TracebackType | None) -> types.TracebackType | None:
    """Skip the dispatcher's own frames at the top: the owner wants to see their code."""
    first = tb
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        tb = tb.tb_next
    return tb if tb is not None else first


def _close_all(files: list[UploadedFile]) -> None:
    # The files were open while the action ran; an action that keeps one calls save().
    for file in files:
        file.close()


async def _close_stream(stream: Any) -> None:
    try:
        if hasattr(stream, "aclose"):
            await stream.aclose()
        elif hasattr(stream, "close"):
            stream.close()
    except Exception:
        log.exception("closing a stream raised")
