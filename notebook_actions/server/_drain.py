"""Draining: a server told to stop (SIGTERM to ``jupyter notebook-actions serve``) takes
no new requests, finishes those in flight, and only then shuts its pools down.

While it drains, the readiness route answers 503 (a load balancer takes the server out)
and every new request to notebook-actions' routes gets 503 with ``Retry-After`` (a client
retries, and the load balancer sends the retry to another server); the requests already
in flight finish, up to ``NotebookActions.drain_timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ._problem import Problem

#: What a request refused while draining is told to wait before it tries again, in seconds.
RETRY_AFTER_SECONDS = 1

#: Draining ends once no new request has come for this long (besides the readiness
#: route's): a load balancer has stopped sending them. Stopping sooner would close the
#: listening socket on requests already on their way, which no load balancer can retry.
QUIET_SECONDS = 1.0

DRAINING_MESSAGE = (
    "this server is shutting down and takes no new requests: try again (another server behind the same address "
    "answers it)"
)


class Draining(Problem):
    """503: the server drains; ``retry_after`` is for the ``Retry-After`` header."""

    def __init__(self) -> None:
        super().__init__(503, DRAINING_MESSAGE, {"Retry-After": str(RETRY_AFTER_SECONDS)})
        self.retry_after = RETRY_AFTER_SECONDS


class Drain:
    """Whether the server still takes requests, and how many of its requests are in flight."""

    def __init__(self) -> None:
        self.draining = False
        self._in_flight = 0
        self._idle: asyncio.Event | None = None
        self._last_refused = 0.0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def admit(self, handler: Any) -> None:
        """Count ``handler``'s request in flight, or refuse it (``Draining``) while draining."""
        if self.draining:
            self._last_refused = time.monotonic()
            raise Draining
        request = handler.request
        if request.method == "GET" and "text/event-stream" in request.headers.get("Accept", ""):
            # An MCP client's standing stream of server messages: a subscription, not a
            # request that finishes; draining does not wait for it (it closes on shutdown).
            return
        self._in_flight += 1
        handler._notebook_actions_in_flight = True

    def release(self, handler: Any) -> None:
        """The request ``admit`` counted has finished (or its connection closed); idempotent."""
        if not getattr(handler, "_notebook_actions_in_flight", False):
            return
        handler._notebook_actions_in_flight = False
        self._in_flight -= 1
        if self._in_flight == 0 and self._idle is not None:
            self._idle.set()

    async def drain(self, timeout: float, quiet: float = QUIET_SECONDS) -> int:
        """Stop admitting; wait until nothing is in flight and no request has come for
        ``quiet`` seconds, or ``timeout`` passes. The count still in flight when it
        returns (0: all finished)."""
        self.draining = True
        deadline = time.monotonic() + timeout
        self._last_refused = time.monotonic()
        while time.monotonic() < deadline:
            if self._in_flight:
                self._idle = asyncio.Event()
                try:
                    await asyncio.wait_for(self._idle.wait(), max(0.0, deadline - time.monotonic()))
                except asyncio.TimeoutError:
                    break
                continue
            still = self._last_refused + quiet - time.monotonic()
            if still <= 0:
                break
            await asyncio.sleep(min(still, max(0.0, deadline - time.monotonic())))
        return self._in_flight
