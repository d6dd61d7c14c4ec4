"""Priming: running a served notebook's code cells top to bottom in one of its kernels.

nbclient executes the cells, through the server's own kernel manager (the way Voila
executes a notebook), so a kernel on a gateway is primed like a local one. A prime
succeeds when every cell ran and the kernel then answers on notebook-actions' comm.
"""

from __future__ import annotations

import logging
import math
import secrets
from dataclasses import dataclass
from typing import Any

from jupyter_core.utils import ensure_async
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbformat import NotebookNode

from ._bridge import BridgeError, NotLoaded
from ._kernels import Bridges

#: Seconds to wait for a (re)started kernel to answer before its first cell.
STARTUP_SECONDS = 60

LOAD_HINT = (
    "add a cell with %load_ext notebook_actions before the notebook's %%use_server cells "
    "(the notebook never loaded notebook-actions, so its kernels have no actions to serve)"
)


@dataclass(frozen=True)
class PrimeFailure:
    """Why a prime failed, as the status route and 503 bodies report it."""

    #: What to tell every caller: says what happened and what to do.
    message: str
    #: The failing cell's position in the notebook, counting from 1 (every cell counts).
    cell: int | None = None
    #: The exception's type, and the digest under which the server logged its traceback.
    type: str | None = None
    digest: str | None = None
    #: The exception's message: shown only with ``expose_exception_messages``.
    exception_message: str | None = None

    def public(self, expose: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message}
        if self.cell is not None:
            out.update(cell=self.cell, type=self.type, digest=self.digest)
        if expose and self.exception_message is not None:
            out["exception_message"] = self.exception_message
        return out


class PrimeFailed(Exception):
    def __init__(self, failure: PrimeFailure, *, kernel_died: bool = False) -> None:
        super().__init__(failure.message)
        self.failure = failure
        #: the kernel's process ended during the prime (its restarter, if any, brings it back)
        self.kernel_died = kernel_died


def cell_failure(path: str, index: int, ename: str, evalue: str, traceback: str, log: logging.Logger) -> PrimeFailure:
    """A failed cell: its traceback goes to the server's log under a digest, never to callers."""
    digest = secrets.token_hex(6)
    log.error(
        "notebook_actions: priming %s: cell %d raised %s (digest %s)\n%s", path, index + 1, ename, digest, traceback
    )
    message = f"cell {index + 1} of {path} raised {ename} (digest {digest}) while priming: fix the notebook"
    return PrimeFailure(message, cell=index + 1, type=ename, digest=digest, exception_message=evalue)


async def prime(
    kernel_manager: Any,
    kernel_id: str,
    notebook: NotebookNode,
    *,
    path: str,
    bridges: Bridges,
    answer_timeout: float,
    cell_timeout: float,
    log: logging.Logger,
) -> None:
    """Run ``notebook``'s code cells in the kernel; ``PrimeFailed`` says why it could not."""
    km = kernel_manager.get_kernel(kernel_id)
    executor = NotebookClient(
        notebook,
        km=km,
        timeout=math.ceil(cell_timeout),
        startup_timeout=STARTUP_SECONDS,
        allow_errors=False,
        store_widget_state=False,
        log=log,
    )
    # The client is made here rather than by nbclient's async_execute, which would shut
    # the kernel down behind the server's back on a failure and take over the server's
    # SIGINT and SIGTERM handlers while it runs.
    client = km.client()
    executor.kc = client
    try:
        # No heartbeat: the kernel manager says whether the kernel lives (nbclient asks it),
        # and a heartbeat thread still starting when the client stops can outlive its sockets.
        await ensure_async(client.start_channels(hb=False))
        try:
            await client.wait_for_ready(timeout=STARTUP_SECONDS)
        except RuntimeError as err:
            raise PrimeFailed(PrimeFailure(f"the kernel did not start: {err}")) from None
        client.allow_stdin = False
        count = 0
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            count += 1
            try:
                await executor.async_execute_cell(cell, index, execution_count=count)
            except CellExecutionError as err:
                raise PrimeFailed(cell_failure(path, index, err.ename, err.evalue, err.traceback, log)) from None
            except DeadKernelError:
                message = f"the kernel died while running cell {index + 1} of {path}"
                failure = PrimeFailure(message, cell=index + 1, type="DeadKernelError", digest="")
                raise PrimeFailed(failure, kernel_died=True) from None
            except CellTimeoutError:
                message = (
                    f"cell {index + 1} of {path} ran longer than NotebookActions.prime_timeout "
                    f"({cell_timeout:g} s) while priming"
                )
                raise PrimeFailed(PrimeFailure(message, cell=index + 1, type="CellTimeoutError", digest="")) from None
    finally:
        try:
            await ensure_async(client.stop_channels())
            if getattr(client, "_created_context", False):
                client.context.destroy(linger=0)  # at once, rather than when collected
        except Exception:
            log.debug("notebook_actions: stopping a priming client failed", exc_info=True)
    await _answers(bridges, kernel_id, path, answer_timeout)


async def _answers(bridges: Bridges, kernel_id: str, path: str, timeout: float) -> None:
    """The primed kernel must answer on notebook-actions' comm, or it has nothing to serve."""
    try:
        await bridges.get(kernel_id).ready(timeout)
    except NotLoaded:
        raise PrimeFailed(PrimeFailure(f"{path} does not load notebook-actions: {LOAD_HINT}")) from None
    except BridgeError as err:
        raise PrimeFailed(PrimeFailure(f"the primed kernel does not answer: {err.message}")) from None
