"""The HTTP adapter's one error: a status, a message, extra JSON fields and headers.

What refuses a request in the HTTP adapter raises a ``Problem`` (the body reader, the
handlers; the service's errors and the kernel's replies become one in ``_http_replies``),
and ``BaseHandler.write_error`` turns it into the JSON body in one place, as Starlette's
``HTTPException`` (with its ``headers``) is turned into one.
"""

from __future__ import annotations

from collections.abc import Mapping
from http.client import responses
from typing import Any

from tornado import web


class Problem(web.HTTPError):
    """An answer other than success: ``{"message": ..., **extra}`` with ``status``.

    ``message`` says what happened and what to do next; ``extra`` fields (``errors``,
    ``type``, ``digest``) are part of the documented body of that status; ``headers`` go
    with the answer (``Retry-After`` with a 503).
    """

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None, **extra: Any) -> None:
        # No log_message: tornado would log every refusal as a warning (and %-format it).
        super().__init__(status)
        self.message = message
        self.headers = dict(headers or {})
        self.extra = extra

    @property
    def status(self) -> int:
        return self.status_code

    def body(self) -> dict[str, Any]:
        return {"message": self.message, **self.extra}

    def __str__(self) -> str:
        return f"HTTP {self.status_code}: {responses.get(self.status_code, 'Unknown')}: {self.message}"
