"""The call lifecycle: an invoke is queued, resolved, validated and run; a sync body at
once, an async one, a generator or an async generator as a task on this thread's event
loop (so a slow one does not hold up the others, and a cancel reaches it by id); then its
replies go to the outbox. In ``serial`` mode (a widget's default) calls run one at a time,
in the order they arrived."""

from __future__ import annotations

import asyncio
import inspect
import secrets
import time
import traceback
import types
import weakref
from pathlib import Path
from typing import Any

from ._action import Action
from ._caller import CallerOf, calling_as
from ._files import UploadedFile
from ._log import log
from ._outbox import Outbox
from ._progress import Progress
from ._protocol import PROTOCOL_ERROR, UNSERIALIZABLE_RESULT, Buffer, ErrorReply, InvokeRequest, ProgressInfo
from ._resolve import Resolve, Target
from ._schema import InvalidArguments, Signature, UnserializableResult, field_error
from ._threads import thread_bound_hint
from ._uploads import Uploads

#: A reply waits for the sync action that runs after it (so that several leave as one
#: transport message) only if that action last ran faster than this; otherwise the
#: reply leaves first. Replies of slow sync actions in one batch leave one by one.
HOLD_REPLIES_SECONDS = 0.001


class Calls:
    """One channel's calls: those waiting for their turn, and those running as tasks."""

    def __init__(
        self,
        resolve: Resolve,
        uploads: Uploads,
        outbox: Outbox,
        *,
        caller: CallerOf,
        serial: bool,
        include_traceback: bool,
    ) -> None:
        self.serial = serial
        self._caller = caller
        self._resolve = resolve
        self._uploads = uploads
        self._outbox = outbox
        self._include_traceback = include_traceback
        # Invokes waiting for their turn (serial mode), by request id, in arrival
        # order; then those running as tasks.
        self._queue: dict[str, tuple[InvokeRequest, list[Buffer]]] = {}
        self._pumping = False
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # How long each sync action last ran (weakly: actions made per call come and go).
        self._sync_seconds: weakref.WeakKeyDictionary[Action[Any], float] = weakref.WeakKeyDictionary()

    def enqueue(self, message: InvokeRequest, buffers: list[Buffer]) -> None:
        rid = message["id"]
        if rid in self._tasks or rid in self._queue:
            self.fail(rid, PROTOCOL_ERROR, f"request id {rid!r} is already in flight: use a new id")
            return
        self._queue[rid] = (message, buffers)
        self.pump()

    def cancel(self, rid: str) -> bool:
        """Cancel a running call (its task answers "cancelled" itself) or drop a queued
        one (it never runs); whether this channel had it."""
        task = self._tasks.get(rid)
        if task is not None:
            task.cancel()
            return True
        if self._queue.pop(rid, None) is not None:
            self._outbox.put({"kind": "cancelled", "id": rid})
            return True
        return False

    def close(self) -> None:
        """Drop the queued calls and cancel the running ones."""
        self._queue.clear()
        for task in list(self._tasks.values()):
            task.cancel()

    def pump(self) -> None:
        """Start queued invokes: all of them, or in serial mode one at a time."""
        if self._pumping:
            return
        self._pumping = True
        try:
            while self._queue and not (self.serial and self._tasks):
                rid = next(iter(self._queue))
                message, buffers = self._queue.pop(rid)
                try:
                    with calling_as(self._caller(message)):  # current_user() in the action and its task
                        self._invoke(message, buffers)
                except Exception as err:  # a bug of ours: this call fails, the queue goes on
                    self.error(rid, err)
        finally:
            self._pumping = False

    def _invoke(self, message: InvokeRequest, buffers: list[Buffer]) -> None:
        rid = message["id"]
        target = self._resolve(message)
        if isinstance(target, str):
            self._outbox.put({"kind": "not_found", "id": rid, "message": target})
            return
        action = target.action
        raw: Any = message.get("args")
        raw = {} if raw is None else raw
        uploaded: list[UploadedFile] = []
        try:
            files = message.get("files")
            if files and isinstance(raw, dict):
                raw = dict(raw)
                for name, refs in files.items():
                    got = [self._uploads.file(ref, buffers) for ref in refs]
                    uploaded += got
                    raw[name] = _files_argument(target.signature, name, got)
            args, kwargs = target.signature.validate(raw, form=message.get("encoding") == "form")
        except InvalidArguments as err:
            _close_all(uploaded)
            self._outbox.put({"kind": "invalid", "id": rid, "errors": err.errors})
            return
        except (TypeError, ValueError) as err:
            _close_all(uploaded)
            self.fail(rid, type(err).__name__, str(err))
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
            self.error(rid, err, action)
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
        if self._outbox.pending and self._sync_seconds.get(action, float("inf")) >= HOLD_REPLIES_SECONDS:
            self._outbox.flush()

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
            self.fail(rid, "RuntimeError", message)
            return
        coro = self._stream(rid, target, work) if target.action.streaming else self._settle(rid, target, work)
        task = loop.create_task(coro)
        self._tasks[rid] = task

        def done(_: object) -> None:
            if task.cancelled():  # before it started: nothing in it could answer
                if inspect.iscoroutine(work):
                    work.close()  # never awaited, on purpose
                self._outbox.put({"kind": "cancelled", "id": rid})
            self._tasks.pop(rid, None)
            _close_all(uploaded)
            self.pump()  # in serial mode, the next call in line
            self._outbox.schedule_flush()

        task.add_done_callback(done)

    async def _settle(self, rid: str, target: Target, awaitable: Any) -> None:
        """An async action (or a sync one that returned an awaitable): its one result."""
        try:
            value = await awaitable
        except asyncio.CancelledError:
            self._outbox.put({"kind": "cancelled", "id": rid})
            self._outbox.flush()
            return
        except Exception as err:
            self.error(rid, err, target.action)
        else:
            self._result(rid, target, value)
        self._outbox.schedule_flush()

    async def _stream(self, rid: str, target: Target, stream: Any) -> None:
        """A generator or async generator action: its chunks, then ``end``."""
        seq = 0
        try:
            if hasattr(stream, "__anext__"):
                async for chunk in stream:
                    self._chunk(rid, target, seq, chunk)
                    seq += 1
                    self._outbox.schedule_flush()
            else:
                for chunk in stream:
                    self._chunk(rid, target, seq, chunk)
                    seq += 1
                    self._outbox.schedule_flush()
                    # Let other requests, and a cancel for this one, in between chunks.
                    await asyncio.sleep(0)
            self._outbox.put({"kind": "end", "id": rid})
        except asyncio.CancelledError:
            self._outbox.put({"kind": "cancelled", "id": rid})
            self._outbox.flush()
        except UnserializableResult as err:
            self.fail(rid, UNSERIALIZABLE_RESULT, str(err))
        except Exception as err:
            self.error(rid, err, target.action)
        finally:
            await _close_stream(stream)
        self._outbox.schedule_flush()

    def _result(self, rid: str, target: Target, value: Any) -> None:
        if isinstance(value, (bytes, bytearray, memoryview)):
            self._outbox.put({"kind": "result", "id": rid, "value": None, "buffer": 0}, [value])
            seen: Any = bytes(value)
        else:
            try:
                seen = target.signature.dump_result(value)
            except UnserializableResult as err:
                self.fail(rid, UNSERIALIZABLE_RESULT, str(err))
                return
            self._outbox.put({"kind": "result", "id": rid, "value": seen})
        if target.on_result is not None:
            try:
                target.on_result(seen)
            except Exception:
                log.exception("the on_result callback of action %r raised", target.action.name)

    def _chunk(self, rid: str, target: Target, seq: int, chunk: Any) -> None:
        if isinstance(chunk, Progress):
            progress: ProgressInfo = {"value": chunk.value, "total": chunk.total, "message": chunk.message}
            self._outbox.put({"kind": "chunk", "id": rid, "seq": seq, "value": None, "progress": progress})
        elif isinstance(chunk, (bytes, bytearray, memoryview)):
            self._outbox.put({"kind": "chunk", "id": rid, "seq": seq, "value": None, "buffer": 0}, [chunk])
        else:
            self._outbox.put({"kind": "chunk", "id": rid, "seq": seq, "value": target.signature.dump_result(chunk)})

    def error(self, rid: str, err: BaseException, action: Action[Any] | None = None) -> None:
        """An exception raised by an action (or by us): logged with a digest the reply carries."""
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
        self._outbox.put(reply)

    def fail(self, rid: str, kind: str, message: str) -> None:
        """An error of the request itself (not raised by the action): no traceback to log."""
        self._outbox.put({"kind": "error", "id": rid, "type": kind, "message": message, "digest": ""})


_PACKAGE_DIR = str(Path(__file__).absolute().parent)


def _user_frames(tb: types.TracebackType | None) -> types.TracebackType | None:
    """Skip the dispatcher's own frames at the top: the owner wants to see their code."""
    first = tb
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        tb = tb.tb_next
    return tb if tb is not None else first


def _files_argument(signature: Signature, name: str, files: list[UploadedFile]) -> Any:
    """The argument the files sent for ``name`` make: a list, or the one file a parameter takes."""
    param = next((p for p in signature.params if p.name == name), None)
    if param is None or param.is_many:
        return files  # an unknown name is reported by validation
    if len(files) > 1:
        message = f"{name!r} takes one file, but {len(files)} were sent: send one."
        raise InvalidArguments([field_error(name, message, "repeated_field")])
    return files[0]


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
