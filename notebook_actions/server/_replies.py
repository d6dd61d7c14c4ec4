"""From the kernel's replies to HTTP: statuses, error bodies, server-sent events."""

from __future__ import annotations

import base64
import json
from typing import Any

from .._protocol import OWN_ERRORS, UPLOAD_TOO_LARGE
from ._problem import Problem


def chunk_value(reply: dict[str, Any], buffers: list[Any]) -> Any:
    if "buffer" in reply and buffers:
        return base64.b64encode(bytes(buffers[0])).decode("ascii")
    return reply.get("value")


def chunk_event(reply: dict[str, Any], buffers: list[Any]) -> dict[str, Any]:
    if "progress" in reply:
        return {"seq": reply.get("seq"), **reply["progress"]}
    if "buffer" in reply and buffers:
        return {"seq": reply.get("seq"), "base64": base64.b64encode(bytes(buffers[0])).decode("ascii")}
    return {"seq": reply.get("seq"), "value": reply.get("value")}


def sse_event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def error_for(reply: dict[str, Any], expose: bool, not_found: str) -> Problem:
    """The HTTP error for a final reply that is not a result."""
    kind = reply.get("kind")
    if kind == "invalid":
        errors = reply.get("errors") or []
        fields = ", ".join(sorted({e.get("field") or "arguments" for e in errors})) or "arguments"
        return Problem(422, f"invalid arguments ({fields}): see errors", errors=errors)
    if kind == "not_found":
        return Problem(404, not_found)
    if kind == "cancelled":
        return Problem(503, "the request was cancelled in the kernel")
    if kind == "error":
        kind_name = str(reply.get("type") or "Exception")
        digest = str(reply.get("digest") or "")
        if not digest:
            # Refused by the kernel's dispatcher before or after the action ran. Its own
            # messages say what to do; others may quote user code (a validator's TypeError).
            status = 413 if kind_name == UPLOAD_TOO_LARGE else 500
            own = kind_name in OWN_ERRORS
            text = str(reply.get("message")) if own else f"the kernel could not run the request ({kind_name})"
            extra = {"type": kind_name, "digest": ""}
            if expose and not own:
                extra["exception_message"] = str(reply.get("message", ""))
            return Problem(status, text, **extra)
        message = (
            f"the action raised {kind_name} (digest {digest}); the notebook's owner finds the "
            "traceback under that digest in the kernel's log"
        )
        extra = {"type": kind_name, "digest": digest}
        if expose:
            extra["exception_message"] = str(reply.get("message", ""))
        return Problem(500, message, **extra)
    return Problem(500, f"unexpected reply from the kernel: {kind!r}")
