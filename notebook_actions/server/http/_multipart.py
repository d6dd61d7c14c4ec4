"""An incremental ``multipart/form-data`` parser: bytes in as they arrive, events out.

tornado's ``parse_multipart_form_data`` wants the whole body in memory; python-multipart's
streaming parser, wrapped here, lets a 50 MB upload flow to the kernel in chunks while it
is still arriving.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from email.utils import collapse_rfc2231_value
from typing import TYPE_CHECKING

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser as _Parser

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

#: Headers of one part may not be longer than this.
MAX_HEADER_BYTES = 16 * 1024
#: and a part may not have more headers than this (browsers send two).
MAX_HEADERS = 16


class MultipartError(ValueError):
    pass


@dataclass
class PartStart:
    name: str
    filename: str | None  # None for a plain field; a file input always sends one
    content_type: str


@dataclass
class PartData:
    data: bytes


@dataclass
class PartEnd:
    pass


Event = PartStart | PartData | PartEnd

#: RFC 2046's limit on a boundary's length
_MAX_BOUNDARY = 200


class MultipartParser:
    """Feed the body with ``feed(chunk)``; each call returns the events it completed.

    python-multipart (Starlette's parser) finds the parts; the headers of each are read
    here, because browsers write file names in them as raw UTF-8.
    """

    def __init__(self, boundary: bytes) -> None:
        if not boundary or len(boundary) > _MAX_BOUNDARY:
            message = "multipart/form-data needs a boundary parameter of 1 to 200 characters"
            raise MultipartError(message)
        self._events: list[Event] = []
        self._headers: list[tuple[bytes, bytes]] = []
        self._name = bytearray()
        self._value = bytearray()
        self._ended = False
        callbacks: MultipartCallbacks = {
            "on_header_field": self._header_name,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": lambda: self._events.append(PartEnd()),
            "on_end": self._end,
        }
        self._parser = _Parser(boundary, callbacks, max_header_size=MAX_HEADER_BYTES, max_header_count=MAX_HEADERS)

    def feed(self, data: bytes) -> list[Event]:
        if self._ended:
            return []  # the epilogue is ignored
        try:
            self._parser.write(data)
        except MultipartParseError as err:
            message = f"malformed multipart body ({err}): send it as browsers, curl and requests write it"
            raise MultipartError(message) from None
        events, self._events = self._events, []
        return events

    def close(self) -> None:
        """The body has ended: raise if the closing boundary never came."""
        if not self._ended:
            message = "the multipart body ended before its closing boundary"
            raise MultipartError(message)

    # python-multipart's callbacks: a header's name and value may each arrive in pieces.
    def _header_name(self, data: bytes, start: int, end: int) -> None:
        self._name += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers.append((bytes(self._name), bytes(self._value)))
        self._name.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        self._events.append(_part_start(self._headers))
        self._headers = []

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if end > start:
            self._events.append(PartData(bytes(data[start:end])))

    def _end(self) -> None:
        self._ended = True


def _part_start(raw: list[tuple[bytes, bytes]]) -> PartStart:
    # Browsers put file names as raw UTF-8 in these headers, which HTTP header parsers
    # (rightly, for HTTP) refuse: they are decoded here.
    try:
        headers = {key.decode().strip().lower(): value.decode().strip() for key, value in raw}
    except UnicodeDecodeError:
        raise MultipartError("the headers of a multipart part are not UTF-8") from None
    parsed = Message()
    parsed["Content-Disposition"] = headers.get("content-disposition", "")
    if parsed.get_content_disposition() != "form-data":
        message = "every part of a multipart/form-data body needs Content-Disposition: form-data"
        raise MultipartError(message)
    raw_name = parsed.get_param("name", header="Content-Disposition")
    name = collapse_rfc2231_value(raw_name) if raw_name is not None else None
    if not isinstance(name, str) or not name:
        message = "a part of the multipart body has no field name"
        raise MultipartError(message)
    filename = parsed.get_filename()
    for text in (name, filename or ""):
        _check_unicode(text)
    content_type = headers.get("content-type", "application/octet-stream" if filename is not None else "")
    return PartStart(name, filename, content_type)


def _check_unicode(text: str) -> None:
    # RFC 2231 names may be decoded with any codec, into text that cannot travel on
    # the wire as JSON (lone surrogates): refuse them here, with the name that failed.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        message = f"a name in the multipart body is not valid Unicode: {text!a:.100}"
        raise MultipartError(message) from None
