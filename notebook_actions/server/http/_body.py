"""From a request body, as it arrives, to the arguments (and files) of an invocation.

JSON bodies carry JSON values; urlencoded and multipart bodies carry form fields,
which the kernel coerces with HTML form semantics. Files larger than a chunk travel to
the kernel as ``upload`` messages while the body is still arriving; smaller ones ride
along with the invocation as buffers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from email.message import Message
from typing import Any, Literal

from tornado.httputil import HTTPInputError, parse_body_arguments

from ..._protocol import FileRef
from .._service import Invoke
from ..kernels._bridge import Upload
from ._multipart import MultipartError, MultipartParser, PartData, PartEnd, PartStart
from ._problem import Problem

#: Form fields that belong to the transport, not to the action.
IGNORED_FIELDS = frozenset({"_xsrf"})

Kind = Literal["json", "urlencoded", "multipart", "empty"]

#: A multipart body may have at most this many fields, and this many files (as Starlette).
MAX_PARTS = 1000


def content_kind(content_type: str | None) -> tuple[Kind, Message]:
    """What kind of body a Content-Type announces (415 for the ones we do not take)."""
    parsed = Message()
    if not content_type:
        return "empty", parsed
    parsed["Content-Type"] = content_type
    media = parsed.get_content_type()
    if media == "application/json" or media.endswith("+json"):
        return "json", parsed
    if media == "application/x-www-form-urlencoded":
        return "urlencoded", parsed
    if media == "multipart/form-data":
        return "multipart", parsed
    message = (
        f"unsupported content type {media!r}: send application/json, "
        "application/x-www-form-urlencoded or multipart/form-data"
    )
    raise Problem(415, message)


class BufferedBody:
    """JSON and urlencoded bodies: small, kept in memory, parsed at the end."""

    def __init__(self, kind: Kind, limit: int) -> None:
        self.kind = kind
        self.limit = limit
        self._data = bytearray()

    async def feed(self, chunk: bytes) -> None:
        self._data += chunk
        if len(self._data) > self.limit:
            message = f"the request body is larger than the limit of {self.limit} bytes"
            raise Problem(413, message)

    def finish(self, name: str) -> Invoke:
        data = bytes(self._data)
        if self.kind == "json":
            if not data.strip():
                return Invoke(name)
            return Invoke(name, decode_json(data))
        if self.kind == "empty":
            if data.strip():
                message = (
                    "the body has no Content-Type: send application/json, "
                    "application/x-www-form-urlencoded or multipart/form-data"
                )
                raise Problem(415, message)
            return Invoke(name)
        if data.lstrip()[:1] in (b"{", b"["):
            message = (
                "the body looks like JSON but came as application/x-www-form-urlencoded "
                "(curl -d does that): send it with Content-Type: application/json"
            )
            raise Problem(400, message)
        arguments: dict[str, list[bytes]] = {}
        try:
            parse_body_arguments("application/x-www-form-urlencoded", data, arguments, {})
            fields = {name: [value.decode("utf-8") for value in values] for name, values in arguments.items()}
        except (HTTPInputError, UnicodeDecodeError) as err:
            raise Problem(400, f"the urlencoded body cannot be read: {err}") from None
        return Invoke(name, _form_args(fields), "form")

    def abort(self) -> None:
        pass


class MultipartBody:
    """A multipart/form-data body, streamed: fields kept, files sent on to the kernel."""

    def __init__(
        self, boundary: str, upload: Callable[[str, str], Upload], *, field_limit: int, chunk_bytes: int
    ) -> None:
        try:
            self._parser = MultipartParser(boundary.encode("latin-1"))
        except (MultipartError, UnicodeEncodeError) as err:
            raise Problem(400, str(err)) from None
        self._new_upload = upload
        self._field_limit = field_limit
        self._chunk = chunk_bytes
        self._fields: dict[str, list[str]] = {}
        self._field_bytes = 0
        self._files: dict[str, list[FileRef]] = {}
        self._buffers: list[bytes] = []
        self._inline_bytes = 0
        self._uploads: list[Upload] = []
        self._part: PartStart | None = None
        self._pending = bytearray()
        self._upload: Upload | None = None
        self._parts = {"fields": 0, "files": 0}

    async def feed(self, chunk: bytes) -> None:
        try:
            events = self._parser.feed(chunk)
        except MultipartError as err:
            raise Problem(400, str(err)) from None
        for event in events:
            if isinstance(event, PartStart):
                self._count(event)
                self._part = event
                self._pending = bytearray()
                self._upload = None
            elif isinstance(event, PartData):
                await self._data(self._current_part(), event.data)
            elif isinstance(event, PartEnd):
                await self._end(self._current_part())

    def _count(self, part: PartStart) -> None:
        # Each part costs a little in the server and the kernel whatever its size: tiny
        # parts by the million would fit the size limit and still be a burden.
        what = "fields" if part.filename is None else "files"
        self._parts[what] += 1
        if self._parts[what] > MAX_PARTS:
            message = f"the form has more than {MAX_PARTS} {what}: send fewer (several files can go in one archive)"
            raise Problem(413, message)

    def _current_part(self) -> PartStart:
        if self._part is None:  # the parser starts every part before its data and its end
            message = "multipart data outside a part"
            raise RuntimeError(message)
        return self._part

    async def _data(self, part: PartStart, data: bytes) -> None:
        if part.filename is None:
            self._field_bytes += len(data)
            if self._field_bytes > self._field_limit:
                message = f"the form fields are larger than the limit of {self._field_limit} bytes"
                raise Problem(413, message)
            self._pending += data
            return
        self._pending += data
        while len(self._pending) >= self._chunk:
            upload = self._start_upload(part)
            await upload.write(bytes(self._pending[: self._chunk]))
            del self._pending[: self._chunk]

    async def _end(self, part: PartStart) -> None:
        self._part = None
        data = bytes(self._pending)
        self._pending = bytearray()
        if part.filename is None:
            try:
                self._fields.setdefault(part.name, []).append(data.decode("utf-8"))
            except UnicodeDecodeError:
                raise Problem(400, f"form field {part.name!r} is not UTF-8 text") from None
            return
        if self._upload is None and not data and not part.filename:
            return  # a file input with no file chosen: as if absent
        ref: FileRef = {"name": part.filename, "content_type": part.content_type}
        if self._upload is None and self._inline_bytes + len(data) <= self._chunk:
            ref["buffer"] = len(self._buffers)
            self._buffers.append(data)
            self._inline_bytes += len(data)
        else:
            upload = self._start_upload(part)
            await upload.write(data, final=True)
            ref["upload"] = upload.id
        self._files.setdefault(part.name, []).append(ref)

    def _start_upload(self, part: PartStart) -> Upload:
        if self._upload is None:
            self._upload = self._new_upload(part.filename or "file", part.content_type)
            self._uploads.append(self._upload)
        return self._upload

    def finish(self, name: str) -> Invoke:
        try:
            self._parser.close()
        except MultipartError as err:
            raise Problem(400, str(err)) from None
        return Invoke(name, _form_args(self._fields), "form", self._files, self._buffers)

    def abort(self) -> None:
        """The invocation will not be sent: the kernel drops the uploads no one will take."""
        for upload in self._uploads:
            upload.abort()


Body = BufferedBody | MultipartBody


#: JSON bodies nested deeper than this (objects and arrays) are refused: deeper values
#: could not travel to the kernel and back (Python's JSON coders recurse).
MAX_JSON_DEPTH = 100


def decode_json(data: bytes) -> Any:
    """A JSON body's value, or 400 for anything that could not travel on to the kernel."""
    try:
        value = _JSON.decode(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as err:
        raise Problem(400, f"the body is not valid JSON: {err}") from None
    except RecursionError:
        raise Problem(400, _too_deep()) from None
    # Cheap tests on the bytes decide whether the value needs walking at all: a lone
    # surrogate only arrives as a \u escape (raw ones are not UTF-8), and a value can
    # only be deeper than the limit with more brackets than that.
    deep = data.count(b"[") + data.count(b"{") > MAX_JSON_DEPTH
    escapes = b"\\u" in data
    if deep or escapes:
        _check_travels(value, text=escapes)
    return value


def _check_travels(value: Any, *, text: bool) -> None:
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            if depth >= MAX_JSON_DEPTH:
                raise Problem(400, _too_deep())
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, item in items:
                if text and isinstance(key, str):
                    _check_text(key)
                stack.append((item, depth + 1))
        elif text and isinstance(node, str):
            _check_text(node)


def _check_text(text: str) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        message = (
            "the body holds a string with a lone surrogate (such as \\ud800), which is not "
            "Unicode text: send surrogates only in pairs, or send the text as UTF-8"
        )
        raise Problem(400, message) from None


def _too_deep() -> str:
    return f"the JSON body is nested more than {MAX_JSON_DEPTH} levels deep: send a flatter value"


def _no_constant(name: str) -> Any:
    message = f"{name} is not JSON (send null, or a number)"
    raise ValueError(message)


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        message = f"the number {text[:40]} is too large for a 64-bit float"
        raise ValueError(message)
    return number


_JSON = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite)


def _form_args(fields: dict[str, list[str]]) -> dict[str, str | list[str]]:
    return {
        name: values[0] if len(values) == 1 else values for name, values in fields.items() if name not in IGNORED_FIELDS
    }
