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
    return None if io_loop is None else io_loop.asyncio_loop  # type: ignore[no-any-return]


def on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()
