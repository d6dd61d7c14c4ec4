"""Why the server cannot answer a request with a result, said without any transport.

The kernel-connection layer (bridges, transports), the pools and the action service raise
these; each front door says them on its own wire (the HTTP adapter as statuses and
``Problem`` bodies in ``_http_replies.problem_for``, MCP as tool errors). None of them
knows an HTTP status.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """A refusal: ``message`` says what happened and what to do next; ``extra`` fields
    (``type``, ``digest``, a failed prime's details) belong to the documented answer."""

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class BadRequest(ServiceError):
    """The request itself cannot be carried out as sent (nothing of it reached an action)."""


class NotFound(ServiceError):
    """No such kernel, notebook session or action (or notebook-actions is not loaded)."""


class TooLarge(ServiceError):
    """A body, a file or a form is larger than the server or the kernel takes."""


class Unavailable(ServiceError):
    """No kernel can take the request now; ``retry_after`` (seconds), when it is known
    how long to wait."""

    def __init__(self, message: str, retry_after: int | None = None, **extra: Any) -> None:
        super().__init__(message, **extra)
        self.retry_after = retry_after


class TimedOut(ServiceError):
    """The action did not finish in time (it was cancelled in the kernel)."""


class Upstream(ServiceError):
    """Something between this server and the kernel (a gateway) refused the server."""


class Internal(ServiceError):
    """The kernel answered what it never should: a defect, reported rather than hidden."""


# The kernel connection's own reasons, each a kind of the above.


class NotLoaded(NotFound):
    """The kernel runs, but notebook-actions is not loaded in it."""


class Unsendable(BadRequest):
    """The request cannot be put on the wire (nothing of it was sent); others go on."""


class KernelGone(Unavailable):
    """The kernel restarted, died, was shut down, or the connection to it failed."""


class KernelDied(KernelGone):
    """The kernel's process ended (or was replaced by a restart): nothing of ours is left in it."""


class KernelBusy(Unavailable):
    """The kernel did not pick the request up in time (a cell is running)."""


class TooManyRequests(ServiceError):
    """More requests than may be taken now; ``retry_after`` (seconds) says when to try again."""

    def __init__(self, message: str, retry_after: int, **extra: Any) -> None:
        super().__init__(message, **extra)
        self.retry_after = retry_after


class RateLimited(TooManyRequests):
    """The caller made more calls than ``NotebookActions.rate_limit`` lets it."""


class QueueFull(TooManyRequests):
    """``NotebookActions.max_waiting`` requests already wait for a ready kernel of the notebook."""
