"""Priming: running a served notebook's code cells top to bottom in one of its kernels.

nbclient executes the cells, through the server's own kernel manager (the way Voila
executes a notebook), so a kernel on a gateway is primed like a local one. A prime
succeeds when every cell ran and the kernel then answers on notebook-actions' comm.

A kernel on a gateway first changes into the notebook's folder: Enterprise Gateway
ignores the ``KERNEL_WORKING_DIR`` the server asks for, so its kernels would otherwise
run in the gateway's own directory and not find the files beside the notebook.
"""

from __future__ import annotations

import logging
import math
import posixpath
import queue
import secrets
import time
from dataclasses import dataclass
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.gateway.managers import GatewayKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbformat import NotebookNode

from ._errors import NotLoaded, ServiceError
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


def raised(cell: NotebookNode, err: CellExecutionError) -> tuple[str, str, str]:
    """The exception the cell's code raised: its type, message and traceback.

    A ``%%use_server`` cell runs its body, then fails the cell with a ``UsageError`` of its
    own ("the cell raised, so no action was registered"): the body's exception is the error
    output before it (``KeyError: 'SHOP_KEY'``), and that is what the notebook must fix.
    """
    if err.ename == "UsageError":
        for output in reversed(cell.get("outputs", [])):
            if output.get("output_type") == "error":
                return str(output.ename), str(output.evalue), "\n".join(output.get("traceback", []))
    return err.ename, err.evalue, err.traceback


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
    pool_key: bytes | None = None,
) -> None:
    """Run ``notebook``'s code cells in the kernel; ``PrimeFailed`` says why it could not.

    ``notebook`` keeps the outputs and the widget state the cells made (an app page shows
    them); ``pool_key`` is told to the kernel first, so that its action ids are the pool's."""
    km = kernel_manager.get_kernel(kernel_id)
    executor = NotebookClient(
        notebook,
        km=km,
        timeout=math.ceil(cell_timeout),
        startup_timeout=STARTUP_SECONDS,
        allow_errors=False,
        store_widget_state=True,
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
        try:
            await ensure_async(client.start_channels(hb=False))
        except (RuntimeError, OSError) as err:
            # e.g. a gateway that refuses our token: its message says what to configure
            raise PrimeFailed(PrimeFailure(f"could not connect to the kernel: {err}")) from None
        try:
            await client.wait_for_ready(timeout=STARTUP_SECONDS)
        except RuntimeError as err:
            # "Kernel died before replying to kernel_info": its restarter (or gateway) brings it
            # back; a restart of the pool's own would race that one.
            died = not await ensure_async(km.is_alive())
            raise PrimeFailed(PrimeFailure(f"the kernel did not start: {err}"), kernel_died=died) from None
        client.allow_stdin = False
        if isinstance(km, GatewayKernelManager):
            folder = kernel_manager.cwd_for_path(posixpath.dirname(path))
            await _enter_folder(client, folder, path=path, timeout=STARTUP_SECONDS, log=log)
        if pool_key is not None:
            await _tell_pool_key(client, pool_key, path=path, timeout=STARTUP_SECONDS, log=log)
        count = 0
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            count += 1
            try:
                await executor.async_execute_cell(cell, index, execution_count=count)
            except CellExecutionError as err:
                ename, evalue, traceback = raised(cell, err)
                raise PrimeFailed(cell_failure(path, index, ename, evalue, traceback, log)) from None
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
        executor.set_widgets_metadata()  # the widgets' state, for the app page
    finally:
        try:
            await ensure_async(client.stop_channels())
            if getattr(client, "_created_context", False):
                client.context.destroy(linger=0)  # at once, rather than when collected
        except Exception:
            log.debug("notebook_actions: stopping a priming client failed", exc_info=True)
    await _answers(bridges, kernel_id, path, answer_timeout)


async def _enter_folder(client: Any, folder: str, *, path: str, timeout: float, log: logging.Logger) -> None:
    """Change the kernel's working directory to the notebook's folder (a silent execution:
    no history, no output, no names left behind). The folder comes from the server's own
    config, and goes in as a Python literal (``repr``), never as code."""
    content = await _run_silently(client, f"__import__('os').chdir({folder!r})", path=path, timeout=timeout)
    if content.get("status") != "ok":
        # A gateway on another machine may have no such folder: the kernel runs where it is.
        log.warning(
            "notebook_actions: the gateway's kernel for %s could not change into %s (%s: %s); it runs in the "
            "gateway's directory",
            path,
            folder,
            content.get("ename"),
            content.get("evalue"),
        )


async def _tell_pool_key(client: Any, key: bytes, *, path: str, timeout: float, log: logging.Logger) -> None:
    """Give the kernel its pool's key (silently: not in its history), from which it derives
    the action ids that every kernel of the pool shares (``notebook_actions._action_ids``)."""
    module = "notebook_actions._action_ids"
    code = f"__import__({module!r}, fromlist=['_']).set_pool_key({key.hex()!r})"
    content = await _run_silently(client, code, path=path, timeout=timeout)
    if content.get("status") != "ok":
        # No notebook-actions in the kernel: the prime then says what to do (LOAD_HINT).
        log.warning(
            "notebook_actions: the kernel for %s did not take its pool key (%s); its inline actions "
            "answer only the app pages it primed",
            path,
            content.get("ename"),
        )


async def _run_silently(client: Any, code: str, *, path: str, timeout: float) -> dict[str, Any]:
    """Execute ``code`` with no history and no output; its reply's content."""
    msg_id = client.execute(code, silent=True, store_history=False, allow_stdin=False)
    deadline = time.monotonic() + timeout
    while True:
        try:
            reply = await ensure_async(client.shell_channel.get_msg(timeout=max(0.0, deadline - time.monotonic())))
        except queue.Empty:
            message = f"the kernel did not answer within {timeout:g} s before the first cell of {path}"
            raise PrimeFailed(PrimeFailure(message)) from None
        except RuntimeError as err:  # the connection to the gateway closed
            raise PrimeFailed(PrimeFailure(f"the kernel did not start: {err}")) from None
        if reply.get("parent_header", {}).get("msg_id") == msg_id:
            break
    content: dict[str, Any] = reply.get("content") or {}
    return content


async def _answers(bridges: Bridges, kernel_id: str, path: str, timeout: float) -> None:
    """The primed kernel must answer on notebook-actions' comm, or it has nothing to serve."""
    try:
        await bridges.get(kernel_id).ready(timeout)
    except NotLoaded:
        raise PrimeFailed(PrimeFailure(f"{path} does not load notebook-actions: {LOAD_HINT}")) from None
    except ServiceError as err:
        raise PrimeFailed(PrimeFailure(f"the primed kernel does not answer: {err.message}")) from None
