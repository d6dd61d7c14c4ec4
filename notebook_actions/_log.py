"""The ``notebook_actions`` logger, and where its records go inside a kernel."""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

log = logging.getLogger("notebook_actions")

_FORMAT = "[notebook_actions %(levelname)s] %(message)s"


def _kernel_log_stream() -> TextIO | None:
    """The kernel process's real stderr: the log of the server that started it.

    Not ``sys.stderr``, which in a kernel is a cell's output, and not plain file
    descriptor 2, which ipykernel also forwards to every client of the kernel as
    output (a Voila viewer's browser among them): the copy it keeps of the original.
    """
    original = getattr(sys.stderr, "_original_stdstream_copy", None)
    if isinstance(original, int):
        return os.fdopen(os.dup(original), "w", buffering=1, closefd=True)
    return sys.__stderr__


def use_kernel_log() -> None:
    """Send the logger's records (tracebacks under their digest) to the kernel's log.

    Called when the extension loads, once per process; a logger someone already
    configured is left alone.
    """
    if log.handlers:
        return
    handler = logging.StreamHandler(_kernel_log_stream())
    handler.setFormatter(logging.Formatter(_FORMAT))
    log.addHandler(handler)
    log.propagate = False
