"""From a request body, as it arrives, to the arguments (and files) of an invocation.

JSON bodies carry JSON values; urlencoded and multipart bodies carry form fields,
which the kernel coerces with HTML form semantics. Files larger than a chunk travel to
the kernel as ``upload`` messages while the body is still arriving; smaller ones ride
along with the invocation as buffers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from email.message import Message
from typing import Any, Literal

from tornado.httputil import HTTPInputError, parse_body_arguments

from .._protocol import FileRef
from ._bridge import Bridge, Upload
from ._multipart import MultipartError, MultipartParser, PartData, PartEnd, PartStart

#: Form fields that belong to the transport, not to the action.
IGNORED_FIELDS = frozenset({"_xsrf"})

Kind = Literal["json", "urlencoded", "multipart", "empty"]


class BodyError(Exception):
    """The body cannot be used; ``status`` says why (400, 413, 415)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Invocation:
    args: Any = field(default_factory=dict)
    encoding: Literal["json", "form"] = "json"
    files: dict[str, list[FileRef]] = field(default_factory=dict)
    buffers: list[bytes] = field(default_factory=list)

    def message(self, name: str) -> dict[str, Any]:
        message: dict[str, Any] = {"kind": "invoke", "name": name, "args": self.args, "encoding": self.encoding}
        if self.files:
            message["files"] = self.files
        return message


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
    raise BodyError(415, message)


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
            raise BodyError(413, message)

    def finish(self) -> Invocation:
        data = bytes(self._data)
        if self.kind == "json":
            if not data.strip():
                return Invocation()
            try:
                return Invocation(_JSON.decode(data.decode("utf-8-sig")))
            except (UnicodeDecodeError, ValueError) as err:
                raise BodyError(400, f"the body is not valid JSON: {err}") from None
        if self.kind == "empty":
            if data.strip():
                message = (
                    "the body has no Content-Type: send application/json, "
                    "application/x-www-form-urlencoded or multipart/form-data"
                )
                raise BodyError(415, message)
            return Invocation()
        if data.lstrip()[:1] in (b"{", b"["):
            message = (
                "the body looks like JSON but came as application/x-www-form-urlencoded "
                "(curl -d does that): send it with Content-Type: application/json"
            )
            raise BodyError(400, message)
        arguments: dict[str, list[bytes]] = {}
        try:
            parse_body_arguments("application/x-www-form-urlencoded", data, arguments, {})
            fields = {name: [value.decode("utf-8") for value in values] for name, values in arguments.items()}
        except (HTTPInputError, UnicodeDecodeError) as err:
            raise BodyError(400, f"the urlencoded body cannot be read: {err}") from None
        return Invocation(_form_args(fields), "form")

    def abort(self) -> None:
        pass


class MultipartBody:
    """A multipart/form-data body, streamed: fields kept, files sent on to the kernel."""

    def __init__(self, boundary: str, bridge: Bridge, *, field_limit: int, chunk_bytes: int, timeout: float) -> None:
        try:
            self._parser = MultipartParser(boundary.encode("latin-1"))
        except (MultipartError, UnicodeEncodeError) as err:
            raise BodyError(400, str(err)) from None
        self._bridge = bridge
        self._field_limit = field_limit
        self._chunk = chunk_bytes
        self._timeout = timeout
        self._fields: dict[str, list[str]] = {}
        self._field_bytes = 0
        self._files: dict[str, list[FileRef]] = {}
        self._buffers: list[bytes] = []
        self._inline_bytes = 0
        self._uploads: list[Upload] = []
        self._part: PartStart | None = None
        self._pending = bytearray()
        self._upload: Upload | None = None

    async def feed(self, chunk: bytes) -> None:
        try:
            events = self._parser.feed(chunk)
        except MultipartError as err:
            raise BodyError(400, str(err)) from None
        for event in events:
            if isinstance(event, PartStart):
                self._part = event
                self._pending = bytearray()
                self._upload = None
            elif isinstance(event, PartData):
                await self._data(event.data)
            elif isinstance(event, PartEnd):
                await self._end()

    async def _data(self, data: bytes) -> None:
        part = self._part
        assert part is not None
        if part.filename is None:
            self._field_bytes += len(data)
            if self._field_bytes > self._field_limit:
                message = f"the form fields are larger than the limit of {self._field_limit} bytes"
                raise BodyError(413, message)
            self._pending += data
            return
        self._pending += data
        while len(self._pending) >= self._chunk:
            upload = self._start_upload(part)
            await upload.write(bytes(self._pending[: self._chunk]))
            del self._pending[: self._chunk]

    async def _end(self) -> None:
        part = self._part
        assert part is not None
        self._part = None
        data = bytes(self._pending)
        self._pending = bytearray()
        if part.filename is None:
            try:
                self._fields.setdefault(part.name, []).append(data.decode("utf-8"))
            except UnicodeDecodeError:
                raise BodyError(400, f"form field {part.name!r} is not UTF-8 text") from None
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
            self._upload = self._bridge.upload(part.filename or "file", part.content_type, timeout=self._timeout)
            self._uploads.append(self._upload)
        return self._upload

    def finish(self) -> Invocation:
        try:
            self._parser.close()
        except MultipartError as err:
            raise BodyError(400, str(err)) from None
        return Invocation(_form_args(self._fields), "form", self._files, self._buffers)

    def abort(self) -> None:
        """The invocation will not be sent: the kernel may hold uploads no one will take."""
        for upload in self._uploads:
            upload.abort()


Body = BufferedBody | MultipartBody


def _no_constant(name: str) -> Any:
    message = f"{name} is not JSON (send null, or a number)"
    raise ValueError(message)


_JSON = json.JSONDecoder(parse_constant=_no_constant)


def _form_args(fields: dict[str, list[str]]) -> dict[str, str | list[str]]:
    return {
        name: values[0] if len(values) == 1 else values for name, values in fields.items() if name not in IGNORED_FIELDS
    }
