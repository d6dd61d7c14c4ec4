"""The pool of one served notebook: its kernels, kept primed, and which one takes a request.

Each kernel has a supervisor task that starts it through the server's kernel manager,
primes it, and when it dies (or its priming failed, or the notebook changed under
``reload``) brings it back. Requests go to the ready kernel with the fewest requests in
flight; while none is ready they wait, up to the timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import posixpath
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.gateway.managers import GatewayKernelManager
from nbformat import NotebookNode

from .._config import NotebookActions
from .._errors import Unavailable
from ..kernels._bridges import Bridges, watch_restarts
from ..kernels._exits import ExitWatch, ended, process_id
from ..kernels._gateway_launch import start_options
from ._liveness import forget, watch_liveness
from ._priming import PrimeFailed, PrimeFailure, prime


class State(str, Enum):
    """Where a pooled kernel is in its life (the status route shows the value)."""

    STARTING = "starting"  # its process is starting
    PRIMING = "priming"  # the notebook runs in it
    READY = "ready"  # in rotation: takes requests
    FAILED = "failed"  # its prime failed: tried again after a delay, or when the file changes
    RESTARTING = "restarting"  # out of rotation: it died, or is primed afresh (a reload)


#: A failed prime is tried again after this many seconds, twice as long each time, up to the maximum.
RETRY_FIRST_SECONDS = 1.0
RETRY_MAX_SECONDS = 60.0

#: What a 503 tells callers to wait while kernels start or prime.
RETRY_AFTER_SECONDS = 5

#: How long a prime whose kernel died is given to say so itself (nbclient's DeadKernelError
#: names the cell), before it is given up.
DEAD_PRIME_SECONDS = 5.0

#: How often a served notebook's file is checked for changes.
WATCH_SECONDS = 1.0


@dataclass
class Services:
    """What a pool uses of the server."""

    kernel_manager: Any
    contents_manager: Any
    bridges: Bridges
    config: NotebookActions
    log: logging.Logger


@dataclass(eq=False)
class PooledKernel:
    """One kernel of a pool, as the status route shows it."""

    kernel_id: str | None = None
    state: State = State.STARTING
    in_flight: int = 0
    last_primed: datetime | None = None
    failure: PrimeFailure | None = None
    #: a local kernel's process, watched for its exit (``ExitWatch``)
    pid: int | None = None
    exit_watch: ExitWatch | None = None
    #: how many times the kernel was restarted or replaced (after a death, a failed prime, a
    #: reload, or someone's restart or shutdown), and the last thing that went wrong, and when
    restarts: int = 0
    last_error: tuple[str, datetime] | None = None
    #: failed primes in a row, and when the next try is due (``time.monotonic()``)
    attempts: int = 0
    retry_at: float | None = None
    #: when it last took a request (a sequence number): ties go to the longest idle
    last_leased: int = 0
    # What the supervisor should do next, and the event that wakes it.
    died: bool = False
    restarter: bool = False  # the death was seen by the kernel's local restarter, which restarts it
    reprime: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    primed: list[asyncio.Future[None]] = field(default_factory=list)
    #: stops watching the kernel's restarter
    unwatch: Callable[[], None] = field(default=lambda: None)

    @property
    def ready(self) -> bool:
        return self.state == State.READY

    def status(self, expose: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.kernel_id,
            "state": self.state.value,
            "in_flight": self.in_flight,
            "last_primed": self.last_primed.isoformat() if self.last_primed else None,
            "pid": self.pid,
            "restarts": self.restarts,
            "last_error": None,
        }
        if self.last_error is not None:
            out["last_error"] = {"message": self.last_error[0], "at": self.last_error[1].isoformat()}
        if self.failure is not None:
            out["failure"] = {**self.failure.public(expose), "attempts": self.attempts}
            if self.retry_at is not None:
                out["failure"]["retry_in"] = max(0.0, round(self.retry_at - time.monotonic(), 1))
        return out


class Lease:
    """A request's hold on a kernel: counted in flight until released."""

    def __init__(self, pool: Pool, kernel: PooledKernel) -> None:
        self.pool = pool
        self.kernel = kernel
        assert kernel.kernel_id is not None
        self.kernel_id: str = kernel.kernel_id
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self.kernel.in_flight -= 1
            self.pool._changed()


def _nothing() -> None:
    pass


class _Died(Exception):
    """The kernel died (or was shut down or restarted by someone else) mid-way."""


class Pool:
    """The kernels of one served notebook."""

    def __init__(self, path: str, size: int, services: Services) -> None:
        self.path = path
        self.size = size
        self.services = services
        self.kernels = [PooledKernel() for _ in range(size)]
        self._tasks: list[asyncio.Task[None]] = []
        self._roll: asyncio.Task[None] | None = None
        self._roll_again = False
        self._change: asyncio.Future[None] | None = None
        self._leases = 0
        #: requests waiting for a ready kernel now (the service counts them: max_waiting)
        self.waiting = 0
        self._stopped = False
        self._starting: set[asyncio.Future[str]] = set()
        #: Told to each kernel at prime, so that all derive the same action ids (an app page
        #: made from one kernel's prime calls any of them); never leaves the server.
        self.key = secrets.token_bytes(32)
        #: The notebook as the last successful prime left it (outputs, widget state): the app page.
        self.primed: NotebookNode | None = None

    @property
    def log(self) -> logging.Logger:
        return self.services.log

    # --- lifetime -----------------------------------------------------------------

    def start(self) -> None:
        self._tasks = [asyncio.ensure_future(self._supervise(kernel)) for kernel in self.kernels]
        self._tasks.append(asyncio.ensure_future(self._watch_file()))

    async def stop(self) -> None:
        self._stopped = True
        tasks = [*self._tasks, *([self._roll] if self._roll else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # A kernel half started is left to finish: the server then shuts it down with the
        # others, rather than never learning of its process.
        if self._starting:
            await asyncio.wait(self._starting, timeout=60)
        for kernel in self.kernels:
            self._unwatch(kernel)
        self._changed()

    def owns(self, kernel_id: str) -> PooledKernel | None:
        for kernel in self.kernels:
            if kernel.kernel_id == kernel_id:
                return kernel
        return None

    # --- routing ------------------------------------------------------------------

    async def lease(self, timeout: float) -> Lease:
        """The ready kernel with the fewest requests in flight, held (counted in flight)
        until the lease is released; waits up to ``timeout`` for one to be ready."""
        kernel = await self._least_busy(timeout)
        self._leases += 1
        kernel.last_leased = self._leases
        kernel.in_flight += 1
        return Lease(self, kernel)

    async def choose(self, timeout: float) -> str:
        """The id of the ready kernel with the fewest requests in flight, not held: for a
        request that only reads (a listing), which routing need not count."""
        kernel = await self._least_busy(timeout)
        assert kernel.kernel_id is not None
        return kernel.kernel_id

    async def _least_busy(self, timeout: float) -> PooledKernel:
        deadline = time.monotonic() + timeout
        while True:
            ready = [k for k in self.kernels if k.ready]
            if ready:
                return min(ready, key=lambda k: (k.in_flight, k.last_leased))
            if self._stopped:
                raise Unavailable(f"{self.path} is no longer served: the server is shutting down", RETRY_AFTER_SECONDS)
            failed = [k for k in self.kernels if k.state == State.FAILED and k.failure is not None]
            if len(failed) == len(self.kernels):
                raise self._failed(failed)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                states = ", ".join(k.state.value for k in self.kernels)
                message = (
                    f"no kernel of {self.path} is ready after {timeout:g} s (kernels: {states}): "
                    "they are still starting or priming; try again shortly"
                )
                raise Unavailable(message, RETRY_AFTER_SECONDS)
            if self._change is None or self._change.done():
                self._change = asyncio.get_running_loop().create_future()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._change), remaining)

    def _failed(self, failed: list[PooledKernel]) -> Unavailable:
        kernel = min(failed, key=lambda k: k.retry_at or math.inf)
        assert kernel.failure is not None
        wait = RETRY_AFTER_SECONDS
        if kernel.retry_at is not None:
            wait = max(1, math.ceil(kernel.retry_at - time.monotonic()))
        message = (
            f"{self.path} is not serving: {kernel.failure.message}; its priming is tried again in "
            f"{wait} s, and at once when the file changes"
        )
        public = kernel.failure.public(self.services.config.expose_exception_messages)
        public.pop("message")
        return Unavailable(message, wait, **public)

    def _changed(self) -> None:
        if self._change is not None and not self._change.done():
            self._change.set_result(None)

    def _set(self, kernel: PooledKernel, state: State) -> None:
        kernel.state = state
        self._changed()

    # --- events from the server -----------------------------------------------------

    def kernel_event(self, kernel: PooledKernel, why: str) -> None:
        """Someone else restarted or shut the kernel down, or its connection was lost. (The
        pool's own restarts, made in other states, say so too: those are not news.)"""
        if kernel.state in (State.READY, State.FAILED):
            self.kernel_gone(kernel, why)

    def kernel_gone(self, kernel: PooledKernel, why: str, restarter: bool = False) -> None:
        """The kernel died: bring it back."""
        if restarter:
            kernel.restarter = True  # (also when the pool saw the death first: wait for its restart)
        if self._stopped or kernel.died:
            return
        kernel.died = True
        self._error(kernel, why)
        if kernel.state == State.READY:
            # Out of rotation now: the requests that follow go to the other kernels.
            self._set(kernel, State.RESTARTING)
        kernel.wake.set()

    def file_changed(self) -> None:
        for kernel in self.kernels:
            if kernel.state == State.FAILED:
                kernel.wake.set()  # try again now, with the new file
        if self.services.config.reload:
            if self._roll is not None and not self._roll.done():
                self._roll_again = True
            else:
                self._roll = asyncio.ensure_future(self._rolling_reprime())

    async def _rolling_reprime(self) -> None:
        """Prime each ready kernel again, one at a time, the others answering meanwhile."""
        while True:
            self._roll_again = False
            for kernel in self.kernels:
                if kernel.state == State.FAILED:
                    continue  # woken already: it primes from the new file
                if kernel.state != State.READY:
                    # It may have read the old file already: let it finish, then prime it again.
                    await self._primed(kernel)
                    if not kernel.ready:
                        continue
                kernel.reprime = True
                kernel.wake.set()
                await self._primed(kernel)
                if kernel.failure is not None:
                    # The new version is broken: the other kernels keep serving the old one.
                    break
            if not self._roll_again:
                return

    async def _primed(self, kernel: PooledKernel) -> None:
        """Until the kernel's next prime succeeds or fails."""
        done = asyncio.get_running_loop().create_future()
        kernel.primed.append(done)
        await done

    # --- one kernel's supervisor ----------------------------------------------------

    async def _supervise(self, kernel: PooledKernel) -> None:
        restart = False  # whether the kernel must restart before it primes (it ran cells already)
        while not self._stopped:
            try:
                await self._bring_up(kernel, restart)
            except PrimeFailed as err:
                self._fail(kernel, err.failure)
                delay = min(RETRY_FIRST_SECONDS * 2 ** (kernel.attempts - 1), RETRY_MAX_SECONDS)
                kernel.retry_at = time.monotonic() + delay
                await self._sleep(kernel, delay)
                kernel.retry_at = None
                if err.kernel_died:
                    kernel.died = True  # its restarter brings it back (or it is gone): wait for that
                restart = not kernel.died
                continue
            except _Died:
                restart = False
                continue
            except asyncio.CancelledError:
                raise
            except Exception as err:
                self.log.exception("notebook_actions: serving %s failed", self.path)
                self._fail(kernel, PrimeFailure(f"the server could not prime a kernel: {type(err).__name__}"))
                await self._sleep(kernel, RETRY_MAX_SECONDS)
                restart = True
                continue
            kernel.attempts = 0
            kernel.failure = None
            kernel.last_primed = datetime.now(timezone.utc)
            self._set(kernel, State.READY)
            self._resolve(kernel)
            self.log.info("notebook_actions: %s is serving from kernel %s", self.path, kernel.kernel_id)
            await self._sleep(kernel, None)
            if kernel.died:
                restart = False
            else:  # a reload: out of rotation, let its requests finish, then prime afresh
                self._set(kernel, State.RESTARTING)
                await self._drain(kernel)
                restart = True

    async def _sleep(self, kernel: PooledKernel, timeout: float | None) -> None:
        """Until the kernel dies, a reload asks for it, a failed prime's file changes, or ``timeout``."""
        kernel.wake.clear()
        if kernel.died or kernel.reprime:
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(kernel.wake.wait(), timeout)

    async def _drain(self, kernel: PooledKernel) -> None:
        deadline = time.monotonic() + self.services.config.timeout
        while kernel.in_flight > 0 and time.monotonic() < deadline and not kernel.died:
            if self._change is None or self._change.done():
                self._change = asyncio.get_running_loop().create_future()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._change), deadline - time.monotonic())

    def _error(self, kernel: PooledKernel, message: str) -> None:
        kernel.last_error = (message, datetime.now(timezone.utc))

    def _fail(self, kernel: PooledKernel, failure: PrimeFailure) -> None:
        kernel.attempts += 1
        kernel.failure = failure
        self._error(kernel, failure.message)
        self._set(kernel, State.FAILED)
        self._resolve(kernel)
        # The log is the server's own: the exception's message goes in (callers see it only
        # with expose_exception_messages).
        said = f" ({failure.type}: {failure.exception_message})" if failure.exception_message is not None else ""
        self.log.warning(
            "notebook_actions: priming %s failed (attempt %d): %s%s", self.path, kernel.attempts, failure.message, said
        )

    def _resolve(self, kernel: PooledKernel) -> None:
        kernel.reprime = False
        for future in kernel.primed:
            if not future.done():
                future.set_result(None)
        kernel.primed.clear()

    async def _bring_up(self, kernel: PooledKernel, restart: bool) -> None:
        manager = self.services.kernel_manager
        notebook = await self._read()
        kernel.reprime = False
        if kernel.kernel_id is None or kernel.kernel_id not in manager:
            self._unwatch(kernel)
            if kernel.kernel_id is not None:
                kernel.restarts += 1  # a replacement
            kernel.kernel_id = None
            kernel.died = False
            self._set(kernel, State.STARTING)
            kernel.kernel_id = await self._start_kernel(notebook)
            self._watch(kernel)
        elif kernel.died:
            kernel.restarts += 1
            self._set(kernel, State.RESTARTING)
            await self._settled(kernel)  # the kernel's restarter brings the process back
            # Only now: till it is back, more news of this death (the restarter's callback
            # after the process's exit was heard) is the same death, not another restart.
            kernel.died = False
            if kernel.kernel_id not in manager:
                raise _Died
        elif restart:
            kernel.restarts += 1
            self._set(kernel, State.RESTARTING)
            self._unwatch_process(kernel)  # its exit is ours: not news
            try:
                await ensure_async(manager.restart_kernel(kernel.kernel_id, now=True))
            except Exception:
                if kernel.kernel_id in manager:
                    raise
                raise _Died from None  # shut down meanwhile: start another
            kernel.died = False  # our own restart
        self._watch_process(kernel)
        self._set(kernel, State.PRIMING)
        priming = asyncio.ensure_future(
            prime(
                manager,
                kernel.kernel_id,
                notebook,
                path=self.path,
                bridges=self.services.bridges,
                answer_timeout=self.services.config.timeout,
                cell_timeout=self.services.config.prime_timeout,
                log=self.log,
                pool_key=self.key,
            )
        )
        died = asyncio.ensure_future(self._until_died(kernel))
        try:
            await asyncio.wait([priming, died], return_when=asyncio.FIRST_COMPLETED)
            if not priming.done():
                # Heard from the process's exit: a cell that ends the kernel is the notebook's
                # failure (retried with backoff), which the prime says itself, naming the cell.
                await asyncio.wait([priming], timeout=DEAD_PRIME_SECONDS)
        finally:
            died.cancel()
            if not priming.done():
                priming.cancel()
                with contextlib.suppress(BaseException):
                    await priming
        if priming.done() and not priming.cancelled() and isinstance(priming.exception(), PrimeFailed):
            priming.result()
        if kernel.died:
            raise _Died
        priming.result()
        self.primed = notebook

    async def _until_died(self, kernel: PooledKernel) -> None:
        while not kernel.died:
            kernel.wake.clear()
            await kernel.wake.wait()

    async def _settled(self, kernel: PooledKernel) -> None:
        """Wait for the kernel to be back: a local restarter's restart to finish (its manager's
        ``ready`` is new until then), a remote kernel to be alive."""
        manager = self.services.kernel_manager
        deadline = time.monotonic() + 60
        while kernel.kernel_id in manager and time.monotonic() < deadline:
            km = manager.get_kernel(kernel.kernel_id)
            ready = getattr(km, "ready", None) if kernel.restarter else None
            if (ready is None or ready.done()) and await ensure_async(km.is_alive()):
                break
            await asyncio.sleep(0.1)
        kernel.restarter = False

    async def _start_kernel(self, notebook: NotebookNode) -> str:
        manager = self.services.kernel_manager
        spec = notebook.metadata.get("kernelspec") or {}
        name = spec.get("name") or getattr(manager, "default_kernel_name", None) or "python3"
        options = start_options(manager, posixpath.dirname(self.path))
        starting = asyncio.ensure_future(ensure_async(manager.start_kernel(kernel_name=name, **options)))
        self._starting.add(starting)
        starting.add_done_callback(self._starting.discard)
        try:
            kernel_id: str = await asyncio.shield(starting)
        except asyncio.CancelledError:
            raise
        except Exception as err:
            self.log.warning("notebook_actions: could not start a %r kernel for %s", name, self.path, exc_info=True)
            message = f"could not start a {name!r} kernel ({type(err).__name__}: {err})"
            raise PrimeFailed(PrimeFailure(message)) from None
        return kernel_id

    async def _read(self) -> NotebookNode:
        try:
            model = await ensure_async(self.services.contents_manager.get(self.path, content=True, type="notebook"))
        except Exception as err:
            # the contents manager says why in its HTTPError's log message
            why = getattr(err, "log_message", None) or getattr(err, "status_code", None) or err
            message = (
                f"cannot read notebook {self.path} ({why}): paths to serve are "
                "relative to the server's root directory (ServerApp.root_dir)"
            )
            raise PrimeFailed(PrimeFailure(message)) from None
        notebook: NotebookNode = model["content"]
        return notebook

    # --- watching -------------------------------------------------------------------

    def _watch(self, kernel: PooledKernel) -> None:
        """A local kernel's restarter says when it died (before restarting it)."""
        assert kernel.kernel_id is not None
        km = self.services.kernel_manager.get_kernel(kernel.kernel_id)
        reasons = {"restart": "the kernel died and was restarted", "dead": "the kernel died"}
        kernel.unwatch = watch_restarts(
            km, lambda event: self.kernel_gone(kernel, reasons[event], restarter=True), self.log
        )
        if isinstance(km, GatewayKernelManager):  # its host can vanish without a word: probe it
            restarts = kernel.unwatch
            probing = watch_liveness(kernel.kernel_id, lambda why: self._lost(kernel, why), self.log)

            def unwatch() -> None:
                restarts()
                probing()

            kernel.unwatch = unwatch

    def _lost(self, kernel: PooledKernel, why: str) -> None:
        """A gateway kernel stopped answering: its requests fail now, a new one replaces it."""
        if kernel.kernel_id is None or kernel.state not in (State.READY, State.PRIMING):
            return  # starting or restarting: not answering is expected
        self.services.bridges.drop(kernel.kernel_id, why)
        forget(self.services.kernel_manager, kernel.kernel_id)
        self.kernel_gone(kernel, why)

    def _watch_process(self, kernel: PooledKernel) -> None:
        """A local kernel's process exit is heard at once (the restarter polls, every few
        seconds): out of rotation before a request finds it dead."""
        assert kernel.kernel_id is not None
        km = self.services.kernel_manager.get_kernel(kernel.kernel_id)
        pid = process_id(km)
        if pid is not None and kernel.exit_watch is not None and kernel.exit_watch.pid == pid:
            return
        self._unwatch_process(kernel)
        kernel.pid = pid
        if pid is not None:
            # Its restarter, if it has one, brings it back: wait for that rather than restart it too.
            restarter = hasattr(km, "add_restart_callback")

            def exited(kernel: PooledKernel = kernel, pid: int = pid) -> None:
                if kernel.pid == pid:
                    kernel.pid = None
                    self.kernel_gone(kernel, ended(pid), restarter=restarter)

            kernel.exit_watch = ExitWatch(pid, exited)

    def _unwatch_process(self, kernel: PooledKernel) -> None:
        if kernel.exit_watch is not None:
            kernel.exit_watch.cancel()
            kernel.exit_watch = None
        kernel.pid = None

    def _unwatch(self, kernel: PooledKernel) -> None:
        self._unwatch_process(kernel)
        kernel.unwatch()
        kernel.unwatch = _nothing

    async def _watch_file(self) -> None:
        contents = self.services.contents_manager
        seen = None
        while True:
            try:
                model = await ensure_async(contents.get(self.path, content=False))
                modified = model.get("last_modified")
            except Exception:
                modified = None
            if seen is not None and modified is not None and modified != seen:
                self.log.info("notebook_actions: %s changed", self.path)
                self.file_changed()
            if modified is not None:
                seen = modified
            await asyncio.sleep(WATCH_SECONDS)

    def status(self) -> dict[str, Any]:
        expose = self.services.config.expose_exception_messages
        kernels = [kernel.status(expose) for kernel in self.kernels]
        return {"path": self.path, "waiting": self.waiting, "kernels": kernels}
