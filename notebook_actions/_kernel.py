"""Where action bodies run: the kernel's main thread and its event loop."""

from __future__ import annotations

import asyncio
import sys
import threading


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
