"""Thread lanes: a client's messages that arrive on another thread than the main one (an
ipykernel subshell's) and may be handled there (a ``threadsafe`` action's invoke, upload
chunks) go to the lane of that thread, a channel of the same client bound to the thread's
event loop (see ``_threads``). Everything else is handed to the main thread, in order."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ._threads import loop_here

LaneT = TypeVar("LaneT")


class Lanes(Generic[LaneT]):
    """A client's lanes, one per event loop they arrive on, made (by ``make``) on first use."""

    def __init__(self, make: Callable[[asyncio.AbstractEventLoop], LaneT]) -> None:
        self._make = make
        self._lanes: dict[asyncio.AbstractEventLoop, LaneT] = {}
        self._lock = threading.Lock()

    def here(self) -> LaneT:
        """This thread's lane."""
        loop = loop_here()
        with self._lock:
            lane = self._lanes.get(loop)
            if lane is None:
                lane = self._lanes[loop] = self._make(loop)
            return lane

    def all(self) -> list[LaneT]:
        with self._lock:
            return list(self._lanes.values())


@dataclass(frozen=True)
class CancelQueued:
    """A cancel handed to another thread, for its queue and tasks only (uploads are
    shared: the thread the cancel arrived on took care of them)."""

    rid: str


def sort_out(items: list[Any], runs_anywhere: Callable[[Any], bool]) -> tuple[list[Any], list[Any]]:
    """Split what arrived on another thread than the main one: what its lane handles
    there (upload chunks, the invokes ``runs_anywhere`` says may), and what goes to the
    main thread. A cancel goes to both: its call may be in either."""
    here: list[Any] = []
    home: list[Any] = []
    for item in items:
        kind = item.get("kind") if isinstance(item, dict) else None
        if kind == "upload" or (kind == "invoke" and runs_anywhere(item)):
            here.append(item)
        elif kind == "cancel" and isinstance(item.get("id"), str):
            here.append(item)  # its task (or upload) if it is in this lane,
            home.append(CancelQueued(item["id"]))  # else the main thread's
        else:
            home.append(item)
    return here, home


def loop_of_this_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
