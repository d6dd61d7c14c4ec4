"""Which MCP sessions talk to which kernel, to tell them when its tools change (the
service says when: ``ActionService.on_actions_changed``).

The SDK gives no hook for a session's end, so a session is forgotten as the SDK forgets
it: after as long without a request in flight as its idle timeout (an open stream counts
as a request in flight), or when it is deleted, or when telling it fails.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from mcp.server.session import ServerSession
from mcp.server.streamable_http_manager import DEFAULT_SESSION_IDLE_TIMEOUT

IDLE_SECONDS = float(DEFAULT_SESSION_IDLE_TIMEOUT)


@dataclass
class _Watched:
    kernel_id: str
    session: ServerSession  # any request's: its standalone channel is the session's stream
    last_seen: float


class Watchers:
    """Which kernel each MCP session talks to."""

    def __init__(self, idle_seconds: float = IDLE_SECONDS) -> None:
        self._idle_seconds = idle_seconds
        self._sessions: dict[str, _Watched] = {}
        self._streams: dict[str, int] = {}  # open GET streams, by session id
        self._tasks: set[asyncio.Future[None]] = set()

    def watch(self, session_id: str, kernel_id: str, session: ServerSession) -> None:
        now = time.monotonic()
        self._prune(now)
        self._sessions[session_id] = _Watched(kernel_id, session, now)

    def stream_opened(self, session_id: str) -> None:
        self._streams[session_id] = self._streams.get(session_id, 0) + 1

    def stream_closed(self, session_id: str) -> None:
        left = self._streams.pop(session_id, 1) - 1
        if left > 0:
            self._streams[session_id] = left
        watched = self._sessions.get(session_id)
        if watched is not None:
            watched.last_seen = time.monotonic()

    def announce(self, kernel_id: str) -> None:
        """Tell every session of the kernel that its tool list changed."""
        for session_id, watched in list(self._sessions.items()):
            if watched.kernel_id == kernel_id:
                task = asyncio.ensure_future(self._tell(session_id, watched))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _tell(self, session_id: str, watched: _Watched) -> None:
        try:
            await watched.session.send_tool_list_changed()
        except Exception:  # the session ended: stop telling it
            if self._sessions.get(session_id) is watched:
                del self._sessions[session_id]

    def forget_session(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    def forget_kernel(self, kernel_id: str) -> None:
        for session_id in [s for s, watched in self._sessions.items() if watched.kernel_id == kernel_id]:
            del self._sessions[session_id]

    def _prune(self, now: float) -> None:
        for session_id in [
            s
            for s, watched in self._sessions.items()
            if now - watched.last_seen > self._idle_seconds and not self._streams.get(s)
        ]:
            del self._sessions[session_id]

    def __len__(self) -> int:
        return len(self._sessions)
