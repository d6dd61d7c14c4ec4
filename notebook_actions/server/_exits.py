"""Hearing at once that a local kernel's process ended.

A kernel's ZMQ sockets do not notice that its process died (ZMQ reconnects, silently), and
the restarter polls ``is_alive`` every ``restart_interval`` seconds: between the two, a dead
kernel looked ready. On Linux a process's pidfd becomes readable the moment it exits, so the
event loop hears of it with no polling; elsewhere the restarter remains the only witness.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable


class ExitWatch:
    """Calls ``on_exit`` once when process ``pid`` ends (if the platform can say so)."""

    def __init__(self, pid: int, on_exit: Callable[[], None]) -> None:
        self.pid = pid
        self._on_exit = on_exit
        self._fd: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        pidfd_open = getattr(os, "pidfd_open", None)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # not on the server's event loop: nothing would hear it
        if pidfd_open is None:
            return
        try:
            self._fd = pidfd_open(pid)
        except OSError:  # already reaped, or a system without pidfds (Linux < 5.3)
            return
        self._loop = loop
        loop.add_reader(self._fd, self._exited)

    def _exited(self) -> None:
        self.cancel()
        self._on_exit()

    def cancel(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        if self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(fd)
        with contextlib.suppress(OSError):
            os.close(fd)


def ended(pid: int) -> str:
    """What a request or the status route is told: the exit alone does not say why."""
    return f"the kernel's process ({pid}) ended: it died, or was restarted or shut down"


def process_id(manager: object) -> int | None:
    """A local kernel's process id (its provisioner's), or None for a remote one."""
    pid = getattr(getattr(manager, "provisioner", None), "pid", None)
    return pid if isinstance(pid, int) else None
