"""Where action bodies run: the kernel's main thread and its event loop, and whether
that thread is running a cell."""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import Any


def kernel_loop() -> asyncio.AbstractEventLoop | None:
    """The running kernel's main event loop, or None outside a kernel (plain IPython)."""
    if "ipykernel.kernelbase" not in sys.modules:
        return None
    from ipykernel.kernelbase import Kernel

    if not Kernel.initialized():
        return None
    io_loop = Kernel.instance().io_loop
    # tornado's IOLoop on asyncio (the only kind ipykernel uses) exposes its loop.
    loop: asyncio.AbstractEventLoop | None = getattr(io_loop, "asyncio_loop", None)
    return loop


def on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


# --- is a cell running? ------------------------------------------------------------
# Counted by IPython's execute events on the main thread, read from any thread (a
# subshell's, to tell a client why its request waits). Nested runs (%%use_server runs
# its cell body) count twice, and still end at zero.
_cells_running = 0


def _cell_started() -> None:
    global _cells_running
    _cells_running += 1


def _cell_finished() -> None:
    global _cells_running
    _cells_running = max(_cells_running - 1, 0)


def cell_running() -> bool:
    return _cells_running > 0


def watch_cells(shell: Any) -> None:
    shell.events.register("pre_execute", _cell_started)
    shell.events.register("post_execute", _cell_finished)


def unwatch_cells(shell: Any) -> None:
    global _cells_running
    for event, callback in (("pre_execute", _cell_started), ("post_execute", _cell_finished)):
        if callback in shell.events.callbacks[event]:
            shell.events.unregister(event, callback)
    _cells_running = 0


def supports_subshells() -> bool | None:
    """Whether this kernel runs messages sent to a subshell on a thread of their own
    (ipykernel >= 7); None outside a kernel."""
    if "ipykernel.kernelbase" not in sys.modules:
        return None
    from ipykernel.kernelbase import Kernel

    if not Kernel.initialized():
        return None
    features = Kernel.instance().kernel_info.get("supported_features") or []
    return "kernel subshells" in features
