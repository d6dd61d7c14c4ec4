"""An incremental ``multipart/form-data`` parser: bytes in as they arrive, events out.

tornado's ``parse_multipart_form_data`` wants the whole body in memory; this one lets
a 50 MB upload flow to the kernel in chunks while it is still arriving.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from email.utils import collapse_rfc2231_value

#: Headers of one part may not be longer than this.
MAX_HEADER_BYTES = 16 * 1024


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

_PREAMBLE, _AFTER_BOUNDARY, _HEADERS, _BODY, _DONE = range(5)
#: RFC 2046's limit on a boundary's length
_MAX_BOUNDARY = 200
#: a boundary line's transport padding beyond this is not padding but garbage
_MAX_BOUNDARY_LINE = 1024


class MultipartParser:
    """Feed the body with ``feed(chunk)``; each call returns the events it completed."""

    def __init__(self, boundary: bytes) -> None:
        if not boundary or len(boundary) > _MAX_BOUNDARY:
            message = "multipart/form-data needs a boundary parameter of 1 to 200 characters"
            raise MultipartError(message)
        self._dash_boundary = b"--" + boundary
        self._delimiter = b"\r\n--" + boundary
        self._buffer = bytearray()
        self._state = _PREAMBLE

    @property
    def done(self) -> bool:
        return self._state == _DONE

    def feed(self, data: bytes) -> list[Event]:
        buf = self._buffer
        if self._state == _DONE:
            return []  # the epilogue is ignored
        buf += data
        events: list[Event] = []
        while True:
            if self._state == _PREAMBLE:
                index = buf.find(self._dash_boundary)
                if index < 0:
                    del buf[: max(0, len(buf) - len(self._dash_boundary))]
                    return events
                del buf[: index + len(self._dash_boundary)]
                self._state = _AFTER_BOUNDARY
            elif self._state == _AFTER_BOUNDARY:
                if len(buf) < len(b"--"):
                    return events
                if buf[:2] == b"--":
                    self._state = _DONE
                    buf.clear()
                    return events
                index = buf.find(b"\r\n")
                if index < 0:
                    if len(buf) > _MAX_BOUNDARY_LINE:
                        raise MultipartError("malformed multipart body: a boundary line is too long")
                    return events
                if buf[:index].strip(b" \t"):
                    raise MultipartError("malformed multipart body: text after a boundary")
                del buf[: index + 2]
                self._state = _HEADERS
            elif self._state == _HEADERS:
                index = buf.find(b"\r\n\r\n")
                if index < 0:
                    if len(buf) > MAX_HEADER_BYTES:
                        raise MultipartError("malformed multipart body: the headers of a part are too long")
                    return events
                events.append(_part_start(bytes(buf[:index])))
                del buf[: index + 4]
                self._state = _BODY
            else:  # _BODY
                index = buf.find(self._delimiter)
                if index < 0:
                    keep = len(self._delimiter) - 1
                    if len(buf) > keep:
                        events.append(PartData(bytes(buf[:-keep])))
                        del buf[:-keep]
                    return events
                if index:
                    events.append(PartData(bytes(buf[:index])))
                del buf[: index + len(self._delimiter)]
                events.append(PartEnd())
                self._state = _AFTER_BOUNDARY

    def close(self) -> None:
        """The body has ended: raise if the closing boundary never came."""
        if self._state != _DONE:
            message = "the multipart body ended before its closing boundary"
            raise MultipartError(message)


def _part_start(raw: bytes) -> PartStart:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MultipartError("the headers of a multipart part are not UTF-8") from None
    # Browsers put file names as raw UTF-8 in these headers, which HTTP header parsers
    # (rightly, for HTTP) refuse: read the few lines here.
    headers: dict[str, str] = {}
    for line in text.split("\r\n"):
        key, colon, value = line.partition(":")
        if not colon or not key.strip():
            message = f"malformed header line in a multipart part: {line[:100]!r}"
            raise MultipartError(message)
        headers[key.strip().lower()] = value.strip()
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
