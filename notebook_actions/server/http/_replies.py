"""From the service's errors and the kernel's replies to HTTP: statuses, bodies, server-sent events.

The only place that gives a ``ServiceError`` (``_errors``) or a reply (``_replies``) an
HTTP status.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from .._errors import (
    BadRequest,
    Internal,
    NotFound,
    ServiceError,
    TimedOut,
    TooLarge,
    TooManyRequests,
    Unavailable,
    Upstream,
)
from .._replies import Cancelled, Chunk, Failed, Invalid, Missing, Progress, Reply, Result, Unexpected
from ._problem import Problem

#: Each kind of service error's status (the first class an error is an instance of).
STATUSES: tuple[tuple[type[ServiceError], int], ...] = (
    (BadRequest, 400),
    (NotFound, 404),
    (TooLarge, 413),
    (TooManyRequests, 429),
    (Internal, 500),
    (Upstream, 502),
    (Unavailable, 503),
    (TimedOut, 504),
)


def problem_for(error: ServiceError) -> Problem:
    """The HTTP answer to a service error (``Retry-After`` with it, when known)."""
    status = next((status for kind, status in STATUSES if isinstance(error, kind)), 500)
    headers = {}
    retry_after = error.retry_after if isinstance(error, (Unavailable, TooManyRequests)) else None
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return Problem(status, error.message, headers, **error.extra)


def problem_for_reply(reply: Reply, expose: bool, not_found: str) -> Problem:
    """The HTTP error for a final reply that is not a result."""
    if isinstance(reply, Invalid):
        fields = ", ".join(sorted({e.get("field") or "arguments" for e in reply.errors})) or "arguments"
        return Problem(422, f"invalid arguments ({fields}): see errors", errors=reply.errors)
    if isinstance(reply, Missing):
        return Problem(404, not_found)
    if isinstance(reply, Cancelled):
        return Problem(503, "the request was cancelled in the kernel")
    if isinstance(reply, Failed):
        message, extra = reply.public(expose)
        return Problem(413 if reply.too_large else 500, message, **extra)
    kind = reply.kind if isinstance(reply, Unexpected) else type(reply).__name__.lower()
    return Problem(500, f"unexpected reply from the kernel: {kind!r}")


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def chunk_event(chunk: Chunk | Progress) -> tuple[str, dict[str, Any]]:
    """A chunk's server-sent event: its name and data."""
    if isinstance(chunk, Progress):
        return "progress", {"seq": chunk.seq, "value": chunk.value, "total": chunk.total, "message": chunk.message}
    if chunk.data is not None:
        return "chunk", {"seq": chunk.seq, "base64": _base64(chunk.data)}
    return "chunk", {"seq": chunk.seq, "value": chunk.value}


def result_data(result: Result) -> dict[str, Any]:
    """A result's server-sent event data, for a stream that began with a ``waiting`` event."""
    return {"base64": _base64(result.data)} if result.data is not None else {"value": result.value}


def sse_event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
