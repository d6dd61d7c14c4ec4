"""Where threadsafe actions run: beside a running cell, off the kernel's main thread.

An action marked ``threadsafe`` (``@action(threadsafe=True)``, ``%%use_server
--threadsafe``) whose message arrives on another thread than the main one (an
ipykernel subshell's: JupyterLab sends widget messages on one, the server's bridge
opens one of its own) runs there: a sync body on that thread, an async body or a
generator as a task on that thread's event loop. Every other action still waits for
the main thread, and its client is told why (a ``waiting`` reply).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

#: A plain action that the main thread has not picked up within this long gets a
#: ``waiting`` reply (so a quick hand-over with an idle kernel sends none).
WAITING_NOTICE_SECONDS = 0.1

CELL_RUNNING = "waiting for the running cell to finish"
MAIN_THREAD_BUSY = "waiting for the kernel's main thread (another action is running)"

_worker: asyncio.AbstractEventLoop | None = None
_worker_lock = threading.Lock()


def loop_here() -> asyncio.AbstractEventLoop:
    """The event loop threadsafe actions use on this thread: the thread's running loop
    (a subshell's), else one loop thread of ours shared by such threads."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return worker_loop()


def worker_loop() -> asyncio.AbstractEventLoop:
    """A loop on a daemon thread of its own, started on first use."""
    global _worker
    with _worker_lock:
        if _worker is None or _worker.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="notebook-actions-threadsafe", daemon=True)
            thread.start()
            _worker = loop
        return _worker


def thread_bound_hint(err: BaseException) -> str | None:
    """What the notebook's owner can do when a threadsafe action used an object that
    belongs to the thread that made it (a sqlite3 connection made in a cell)."""
    if isinstance(err, sqlite3.ProgrammingError) and "thread" in str(err):
        return (
            "this action is threadsafe, so it ran on another thread than the cell that made "
            "the connection: open the connection inside the action (a `with "
            "sqlite3.connect(...)` per call), or drop threadsafe so the action runs on the "
            "main thread, after any running cell"
        )
    return None


def route_our_messages_to_their_subshell(comm: Any, ours: Callable[[Any], bool]) -> None:
    """Let a comm's requests run on the subshell the client sent them on.

    ipykernel 7.4 sends an incoming comm message to the subshell its comm last sent
    from, not the one the client chose (so that a reply a kernel thread waits for
    reaches that thread). A widget displayed by a cell last sent from the main shell,
    so every request would wait for the running cell. Requests of ours are not such
    replies: where ``ours(data)`` holds, keep the client's choice.
    """
    original = getattr(comm, "_reply_subshell_for", None)
    if original is None:  # ipykernel < 7.4: the client's choice stands anyway
        return

    def route(data: Any, default: Any) -> Any:
        if ours(data):
            return default
        return original(data, default)

    comm._reply_subshell_for = route
