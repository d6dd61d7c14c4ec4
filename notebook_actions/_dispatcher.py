"""The one dispatcher: every transport hands its messages to a ``Channel``.

A channel is one client connection (a widget, the server's comm). It resolves the
action, validates the arguments, runs the action on the kernel's main thread, and
sends the replies back through the transport's ``send``. Sync actions run at once;
async actions, generators and async generators run as tasks on the kernel's event
loop, so a slow one does not hold up the others, and can be cancelled by id.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import sys
import traceback
import types
from collections.abc import Callable, Sequence
from typing import Any, TextIO, cast

from ._action import Action
from ._files import UploadedFile
from ._kernel import kernel_loop, on_main_thread
from ._progress import Progress
from ._protocol import FileRef, Reply
from ._registry import Registry, registry
from ._schema import InvalidArguments, UnserializableResult

Buffer = bytes | bytearray | memoryview
Send = Callable[[dict[str, Any], list[Buffer]], None]


def _kernel_log_stream() -> TextIO | None:
    """The kernel process's real stderr: the log of the server that started it.

    Not ``sys.stderr``, which in a kernel is a cell's output, and not plain file
    descriptor 2, which ipykernel also forwards to every client of the kernel as
    output (a Voila viewer's browser among them): the copy it keeps of the original.
    """
    original = getattr(sys.stderr, "_original_stdstream_copy", None)
    if isinstance(original, int):
        return os.fdopen(os.dup(original), "w", buffering=1, closefd=True)
    return sys.__stderr__


log = logging.getLogger("notebook_actions")
if not log.handlers:
    _handler = logging.StreamHandler(_kernel_log_stream())
    _handler.setFormatter(logging.Formatter("[notebook_actions %(levelname)s] %(message)s"))
    log.addHandler(_handler)
    log.propagate = False

DEFAULT_MAX_UPLOAD_BYTES = 1 << 30


class Channel:
    """One client connection's view of the dispatcher. ``receive`` is thread-safe."""

    def __init__(
        self,
        send: Send,
        *,
        include_traceback: bool = False,
        batch_replies: bool = False,
        allow: Callable[[Action[Any]], bool] | None = None,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
        actions: Registry = registry,
    ) -> None:
        self._send = send
        self._include_traceback = include_traceback
        self._batch_replies = batch_replies
        self._allow = allow
        self._max_upload_bytes = max_upload_bytes
        self._registry = actions
        self._loop = kernel_loop()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._uploads: dict[str, UploadedFile] = {}
        self._finished_uploads: set[str] = set()
        self._outbox: list[tuple[dict[str, Any], list[Buffer]]] = []
        self._flush_scheduled = False

    # --- receiving ----------------------------------------------------------------

    def receive(self, message: Any, buffers: Sequence[Buffer] = ()) -> None:
        """Handle one transport message (possibly a batch) from any thread."""
        buffers = list(buffers)
        if self._loop is not None and not on_main_thread():
            # A subshell thread: user state made in cells may be bound to the main
            # thread (sqlite3), so the action runs there, never here.
            self._loop.call_soon_threadsafe(self._receive_here, message, buffers)
        else:
            self._receive_here(message, buffers)

    def _receive_here(self, message: Any, buffers: list[Buffer]) -> None:
        if isinstance(message, dict) and message.get("kind") == "batch":
            for item in message.get("messages") or []:
                self._handle(item, buffers)
        else:
            self._handle(message, buffers)
        self._flush()

    def _handle(self, message: Any, buffers: list[Buffer]) -> None:
        if not isinstance(message, dict) or not isinstance(message.get("id"), str):
            log.warning("ignored a malformed message (no string 'id'): %.200r", message)
            return
        rid = message["id"]
        kind = message.get("kind")
        try:
            if kind == "invoke":
                self._invoke(message, buffers)
            elif kind == "cancel":
                task = self._tasks.get(rid)
                if task is not None:
                    task.cancel()
                elif rid in self._uploads:  # an upload abandoned half-way
                    self._discard_upload(rid)
                    self._emit({"kind": "cancelled", "id": rid})
            elif kind == "upload":
                self._upload(message, buffers)
            elif kind == "list":
                infos = [a.info() for a in self._registry.exported_actions()]
                self._emit({"kind": "actions", "id": rid, "actions": infos})
            else:
                self._fail(rid, "ProtocolError", f"unknown message kind {kind!r}")
        except Exception as err:  # a bug of ours must not kill the comm: report it
            self._error(rid, err)

    # --- uploads ------------------------------------------------------------------

    def _upload(self, message: dict[str, Any], buffers: list[Buffer]) -> None:
        uid = message["id"]
        upload = self._uploads.get(uid)
        if upload is None:
            upload = UploadedFile(str(message.get("name") or "file"), str(message.get("content_type") or ""))
            self._uploads[uid] = upload
            self._finished_uploads.discard(uid)
        index = message.get("buffer", 0)
        if isinstance(index, int) and 0 <= index < len(buffers):
            upload.write(buffers[index])
        if upload.size > self._max_upload_bytes:
            self._discard_upload(uid)
            limit = self._max_upload_bytes
            self._fail(uid, "UploadTooLarge", f"the file is larger than the upload limit of {limit} bytes")
            return
        if message.get("final"):
            upload.seek(0)
            self._finished_uploads.add(uid)
        self._emit({"kind": "uploaded", "id": uid, "size": upload.size})

    def _discard_upload(self, uid: str) -> None:
        upload = self._uploads.pop(uid, None)
        self._finished_uploads.discard(uid)
        if upload is not None:
            upload.close()

    def _file(self, ref: FileRef, buffers: list[Buffer]) -> UploadedFile:
        if "upload" in ref:
            uid = ref["upload"]
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

    def _resolve(self, message: dict[str, Any]) -> Action[Any] | str:
        if isinstance(message.get("name"), str):
            name = message["name"]
            found = self._registry.exported(name)
            if found is None:
                return (
                    f"no exported action {name!r} in this kernel: run the %%use_server cell "
                    "that defines it (after %load_ext notebook_actions)"
                )
        else:
            found = self._registry.get(str(message.get("action")))
            if found is None:
                return (
                    "this action is no longer available in the kernel (the kernel restarted, "
                    "or the cell that made it was re-run without it): re-run that cell"
                )
        if self._allow is not None and not self._allow(found):
            return "this action is not available here"
        return found

    def _invoke(self, message: dict[str, Any], buffers: list[Buffer]) -> None:
        rid = message["id"]
        if rid in self._tasks:
            self._fail(rid, "ProtocolError", f"request id {rid!r} is already in flight: use a new id")
            return
        action = self._resolve(message)
        if isinstance(action, str):
            self._emit({"kind": "not_found", "id": rid, "message": action})
            return
        raw = message.get("args")
        raw = {} if raw is None else raw
        uploaded: list[UploadedFile] = []
        try:
            if message.get("files") and isinstance(raw, dict):
                raw = dict(raw)
                by_name = {p.name: p for p in action.signature.params}
                for field, refs in message["files"].items():
                    files = [self._file(ref, buffers) for ref in refs]
                    uploaded += files
                    param = by_name.get(field)
                    raw[field] = files if param is None or param.is_many else files[-1]
            args, kwargs = action.signature.validate(raw, form=message.get("encoding") == "form")
        except InvalidArguments as err:
            _close_all(uploaded)
            self._emit({"kind": "invalid", "id": rid, "errors": err.errors})
            return
        except (TypeError, ValueError) as err:
            _close_all(uploaded)
            self._fail(rid, type(err).__name__, str(err))
            return

        if action.is_async or action.streaming:
            self._start(rid, self._run(rid, action, args, kwargs), uploaded)
            return
        try:
            value = action.call_validated(args, kwargs)
        except Exception as err:
            _close_all(uploaded)
            self._error(rid, err, action)
            return
        if asyncio.iscoroutine(value):
            self._start(rid, self._await(rid, action, value), uploaded)
            return
        _close_all(uploaded)
        self._result(rid, action, value)

    def _start(self, rid: str, coro: Any, uploaded: list[UploadedFile]) -> None:
        """Run ``coro`` as a task; the request's uploaded files are closed when it ends."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            coro.close()
            _close_all(uploaded)
            message = (
                "no event loop is running here: async and streaming actions run in a "
                "kernel, or through notebook_actions.testing"
            )
            self._fail(rid, "RuntimeError", message)
            return
        task = loop.create_task(coro)
        self._tasks[rid] = task

        def done(_: object) -> None:
            self._tasks.pop(rid, None)
            _close_all(uploaded)

        task.add_done_callback(done)

    async def _await(self, rid: str, action: Action[Any], awaitable: Any) -> None:
        try:
            value = await awaitable
        except asyncio.CancelledError:
            self._emit({"kind": "cancelled", "id": rid})
            self._flush()
            return
        except Exception as err:
            self._error(rid, err, action)
        else:
            self._result(rid, action, value)
        self._schedule_flush()

    async def _run(self, rid: str, action: Action[Any], args: list[Any], kwargs: dict[str, Any]) -> None:
        seq = 0
        stream: Any = None
        try:
            if action.is_async:
                value = await action.call_validated(args, kwargs)
                self._result(rid, action, value)
            elif action.is_async_gen:
                stream = action.call_validated(args, kwargs)
                async for chunk in stream:
                    self._chunk(rid, action, seq, chunk)
                    seq += 1
                    self._schedule_flush()
                self._emit({"kind": "end", "id": rid})
            else:
                stream = action.call_validated(args, kwargs)
                for chunk in stream:
                    self._chunk(rid, action, seq, chunk)
                    seq += 1
                    self._schedule_flush()
                    # Let other requests, and a cancel for this one, in between chunks.
                    await asyncio.sleep(0)
                self._emit({"kind": "end", "id": rid})
        except asyncio.CancelledError:
            self._emit({"kind": "cancelled", "id": rid})
            self._flush()
        except UnserializableResult as err:
            self._fail(rid, "UnserializableResult", str(err))
        except Exception as err:
            self._error(rid, err, action)
        finally:
            if stream is not None:
                await _close_stream(stream)
        self._schedule_flush()

    # --- replying -----------------------------------------------------------------

    def _result(self, rid: str, action: Action[Any], value: Any) -> None:
        if isinstance(value, (bytes, bytearray, memoryview)):
            self._emit({"kind": "result", "id": rid, "value": None, "buffer": 0}, [value])
            return
        try:
            encoded = action.signature.dump_result(value)
        except UnserializableResult as err:
            self._fail(rid, "UnserializableResult", str(err))
            return
        self._emit({"kind": "result", "id": rid, "value": encoded})

    def _chunk(self, rid: str, action: Action[Any], seq: int, chunk: Any) -> None:
        if isinstance(chunk, Progress):
            progress = {"value": chunk.value, "total": chunk.total, "message": chunk.message}
            self._emit({"kind": "chunk", "id": rid, "seq": seq, "value": None, "progress": progress})
        elif isinstance(chunk, (bytes, bytearray, memoryview)):
            self._emit({"kind": "chunk", "id": rid, "seq": seq, "value": None, "buffer": 0}, [chunk])
        else:
            self._emit({"kind": "chunk", "id": rid, "seq": seq, "value": action.signature.dump_result(chunk)})

    def _error(self, rid: str, err: BaseException, action: Action[Any] | None = None) -> None:
        digest = secrets.token_hex(6)
        text = "".join(traceback.format_exception(type(err), err, _user_frames(err.__traceback__)))
        where = f"action {action.name!r}" if action is not None else "notebook_actions"
        log.error("%s raised %s (digest %s), request %s\n%s", where, type(err).__name__, digest, rid, text)
        reply: dict[str, Any] = {
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

    def _emit(self, reply: dict[str, Any], buffers: Sequence[Buffer] = ()) -> None:
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
                self._send(reply, buffers)
            return
        messages: list[dict[str, Any]] = []
        merged: list[Buffer] = []
        for reply, buffers in outbox:
            if buffers:
                reply = {**reply, "buffer": len(merged)}
                merged.extend(buffers)
            messages.append(reply)
        self._send({"kind": "batch", "messages": messages}, merged)

    def close(self) -> None:
        """The client went away: cancel what it started and drop its uploads."""
        for task in list(self._tasks.values()):
            task.cancel()
        for uid in list(self._uploads):
            self._discard_upload(uid)


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


def replies_for(replies: Sequence[dict[str, Any]], rid: str) -> list[Reply]:
    """The replies to one request, unpacking batches (for clients and tests)."""
    out: list[Reply] = []
    for reply in replies:
        if reply.get("kind") == "batch":
            out.extend(replies_for(reply["messages"], rid))
        elif reply.get("id") == rid:
            out.append(cast(Reply, reply))
    return out
