"""The kernel's replies to an invocation, typed, as every front door reads them.

The bridge hands over wire messages (``_protocol``'s ``Reply`` dicts and their buffers);
``reply_from`` turns each into one of the small classes below, so that the HTTP and MCP
adapters (and the next front door) map replies to their wire by type, not by key.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from .._protocol import (
    OWN_ERRORS,
    UPLOAD_TOO_LARGE,
    Buffer,
    ChunkReply,
    ErrorReply,
    FieldError,
    InvalidReply,
    NotFoundReply,
    ResultReply,
    WaitingReply,
)


@dataclass(frozen=True)
class Chunk:
    """A value a streaming action yielded; ``data`` when it yielded bytes."""

    seq: int
    value: Any
    data: bytes | None = None

    @property
    def json_value(self) -> Any:
        """The chunk as a JSON value (bytes as base64 text)."""
        return base64.b64encode(self.data).decode("ascii") if self.data is not None else self.value


@dataclass(frozen=True)
class Progress:
    """A ``Progress`` a streaming action yielded."""

    seq: int
    value: float
    total: float | None
    message: str


@dataclass(frozen=True)
class Waiting:
    """Not started yet: the kernel's main thread is busy (``message`` says with what)."""

    message: str


@dataclass(frozen=True)
class Result:
    """What the action returned; ``data`` when it returned bytes."""

    value: Any
    data: bytes | None = None


@dataclass(frozen=True)
class End:
    """A streaming action finished."""


@dataclass(frozen=True)
class Invalid:
    """The arguments do not fit the action's signature: one entry per field."""

    errors: list[FieldError] = field(default_factory=list)


@dataclass(frozen=True)
class Failed:
    """The action raised (``digest`` names its traceback in the kernel's log), or the
    kernel's dispatcher refused the request (no digest)."""

    type: str
    message: str
    digest: str

    @property
    def own(self) -> bool:
        """Made by the dispatcher itself: its message is safe to show any client."""
        return not self.digest and self.type in OWN_ERRORS

    @property
    def too_large(self) -> bool:
        return not self.digest and self.type == UPLOAD_TOO_LARGE

    def public(self, expose: bool) -> tuple[str, dict[str, Any]]:
        """The message any caller may read, and the fields that go with it (the exception's
        own message only when the server's owner said so: it may quote secrets)."""
        extra: dict[str, Any] = {"type": self.type, "digest": self.digest}
        if not self.digest:
            # Refused before or after the action ran. The dispatcher's own messages say what
            # to do; others may quote user code (a validator's TypeError).
            text = self.message if self.own else f"the kernel could not run the request ({self.type})"
            if expose and not self.own:
                extra["exception_message"] = self.message
            return text, extra
        text = (
            f"the action raised {self.type} (digest {self.digest}); the notebook's owner finds the "
            "traceback under that digest in the kernel's log"
        )
        if expose:
            extra["exception_message"] = self.message
        return text, extra


@dataclass(frozen=True)
class Missing:
    """The kernel exports no action of that name (any more)."""

    message: str


@dataclass(frozen=True)
class Cancelled:
    """The call was cancelled in the kernel."""


@dataclass(frozen=True)
class Unexpected:
    """A reply the protocol does not allow here (a defect, reported as such)."""

    kind: str


Reply = Chunk | Progress | Waiting | Result | End | Invalid | Failed | Missing | Cancelled | Unexpected
#: Replies after which the call has ended.
Final = Result | End | Invalid | Failed | Missing | Cancelled | Unexpected


def _data(message: dict[str, Any], buffers: Sequence[Buffer]) -> bytes | None:
    return bytes(buffers[0]) if "buffer" in message and buffers else None


def reply_from(message: dict[str, Any], buffers: Sequence[Buffer]) -> Reply:
    """The typed reply of one wire message (its own buffer, if any, is buffer 0)."""
    kind = message.get("kind")
    if kind == "chunk":
        chunk = cast("ChunkReply", message)
        progress = chunk.get("progress")
        if progress is not None:
            return Progress(chunk.get("seq", 0), progress["value"], progress.get("total"), progress.get("message", ""))
        return Chunk(chunk.get("seq", 0), chunk.get("value"), _data(message, buffers))
    if kind == "result":
        result = cast("ResultReply", message)
        return Result(result.get("value"), _data(message, buffers))
    if kind == "end":
        return End()
    if kind == "waiting":
        return Waiting(str(cast("WaitingReply", message).get("message") or "a cell is running"))
    if kind == "invalid":
        return Invalid(list(cast("InvalidReply", message).get("errors") or []))
    if kind == "error":
        error = cast("ErrorReply", message)
        return Failed(
            str(error.get("type") or "Exception"), str(error.get("message", "")), str(error.get("digest") or "")
        )
    if kind == "not_found":
        return Missing(str(cast("NotFoundReply", message).get("message", "")))
    if kind == "cancelled":
        return Cancelled()
    return Unexpected(str(kind))
