"""The server's one way to reach the actions of a kernel, whatever front door a request came by.

``ActionService`` picks the kernel a request is for (a kernel id, the kernel of a notebook's
session, or a served notebook's pool: a lease held for as long as the call runs), lists its
exported actions (cached until the kernel says they changed), invokes one (an async iterator
of typed replies, ``_replies``), and sends files. It speaks no HTTP: what it cannot do it
raises as a ``ServiceError`` (``_errors``), which each front door says on its own wire.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from jupyter_server.utils import url_path_join

from .._protocol import ActionInfo, CallerInfo, FileRef, InvokeRequest
from .._routes import actions_path, notebook_path
from ._config import NotebookActions
from ._errors import Internal, KernelBusy, NotFound, QueueFull, TimedOut, Unavailable
from ._limits import PUBLIC_RATE_LIMIT, RateLimiter, parse_rate
from ._replies import Final, Reply, Waiting, reply_from
from .kernels._bridge import Bridge, Call, Upload
from .kernels._bridges import Bridges, UnknownKernel
from .serving._pool import Lease, Pool
from .serving._pools import Serving

T = TypeVar("T")

#: When a request refused for ``max_waiting`` is told to try again (kernels take seconds to start).
QUEUE_FULL_RETRY_SECONDS = 2


@dataclass
class Invoke:
    """What to run: an exported action by name, its arguments, and its files (inline as
    buffers, or already uploaded)."""

    name: str
    args: Any = field(default_factory=dict)
    encoding: Literal["json", "form"] = "json"
    files: dict[str, list[FileRef]] = field(default_factory=dict)
    buffers: list[bytes] = field(default_factory=list)
    #: ``name`` is an action's id (any action, exported or inline), not an exported name
    by_id: bool = False
    #: who makes the call, as the front door authenticated them (``current_user()`` in the action)
    caller: CallerInfo | None = None

    def message(self) -> InvokeRequest:
        message: InvokeRequest = {"kind": "invoke", "id": "", "args": self.args}
        if self.by_id:
            message["action"] = self.name
        else:
            message["name"] = self.name
        message["encoding"] = self.encoding
        if self.files:
            message["files"] = self.files
        if self.caller is not None:
            message["caller"] = self.caller
        return message


class Target:
    """The kernel a request reaches, connected; for a served notebook, the pool's lease on
    it, held until ``release`` (the call finished, was cancelled, or its client left)."""

    def __init__(self, kernel_id: str, bridge: Bridge, lease: Lease | None) -> None:
        self.kernel_id = kernel_id
        self.bridge = bridge
        self.lease = lease

    def release(self) -> None:
        if self.lease is not None:
            self.lease.release()


class Invocation:
    """One call in flight: ``async for reply in invocation`` (or ``next``) until a final
    reply; ``cancel`` stops it in the kernel."""

    def __init__(self, call: Call, timeout: float) -> None:
        self._call = call
        self._timeout = timeout
        self.done = False

    @property
    def backlog(self) -> int:
        """Replies received and not read yet."""
        return len(self._call.replies)

    async def next(self, timeout: float | None = None, *, waiting: bool = False) -> Reply:
        """The next reply within ``timeout`` seconds (the service's by default); a call
        that gets none in time is cancelled (``TimedOut``, or ``KernelBusy`` if it never
        started). ``Waiting`` is returned only when asked for; otherwise it counts against
        the same ``timeout``."""
        budget = self._timeout if timeout is None else timeout
        deadline = time.monotonic() + budget
        while True:
            try:
                left = max(deadline - time.monotonic(), 0.0)
                message, buffers = await self._call.reply(left, budget=budget)
            except (TimedOut, KernelBusy):
                self.cancel()
                raise
            reply = reply_from(message, buffers)
            if isinstance(reply, Waiting) and not waiting:
                continue
            if isinstance(reply, Final):
                self.done = True
            return reply

    def __aiter__(self) -> AsyncIterator[Reply]:
        return self._replies()

    async def _replies(self) -> AsyncIterator[Reply]:
        while not self.done:
            yield await self.next()

    def cancel(self) -> None:
        self._call.cancel()


class ActionService:
    """Every front door's way to the kernels' actions (see the module docstring)."""

    def __init__(
        self,
        config: NotebookActions,
        kernel_manager: Any,
        session_manager: Any,
        bridges: Bridges,
        serving: Serving,
        *,
        base_url: str = "/",
    ) -> None:
        self.config = config
        self.kernel_manager = kernel_manager
        self.session_manager = session_manager
        self.bridges = bridges
        self.serving = serving
        #: the server's base URL, for the routes the service's messages name
        self.base_url = base_url
        #: each kernel's exported actions, as last listed on that bridge
        self._listings: dict[str, tuple[Bridge, dict[str, ActionInfo]]] = {}
        self._listening: weakref.WeakSet[Bridge] = weakref.WeakSet()
        #: called with a kernel's id when its exported actions change (or may have)
        self.on_actions_changed: list[Callable[[str], None]] = []
        #: each limited action's calls in flight, per served notebook or kernel: (limit, slots)
        self._turns: dict[tuple[str, str], tuple[int, asyncio.Semaphore]] = {}
        self._waiting_turns: collections.Counter[tuple[str, str]] = collections.Counter()
        self._rate_limiter = RateLimiter(parse_rate(config.rate_limit)) if config.rate_limit else None
        #: public notebooks' visitors are limited even when rate_limit says nothing
        self._visitors_limiter = self._rate_limiter
        if self._visitors_limiter is None and config.public:
            self._visitors_limiter = RateLimiter(parse_rate(PUBLIC_RATE_LIMIT))

    # --- which kernel -----------------------------------------------------------------

    def served(self, notebook: str) -> bool:
        return self.serving.pool(notebook) is not None

    async def kernel_id(self, *, kernel_id: str | None = None, notebook: str | None = None) -> str:
        """The running kernel a kernel id or a notebook's session names (``NotFound``,
        ``Unavailable``); a served notebook's least busy ready kernel, not held."""
        if notebook is not None:
            pool = self.serving.pool(notebook)
            if pool is not None:
                return await self._waiting(pool, pool.choose)
            kernel_id = await self._session_kernel(notebook_path(notebook))
        if kernel_id is None:
            message = "kernel_id() needs a kernel id or a notebook"
            raise TypeError(message)
        if kernel_id not in self.kernel_manager:
            message = f"no running kernel {kernel_id} on this server: GET /api/kernels lists the running ones"
            raise NotFound(message)
        if getattr(self.kernel_manager.get_kernel(kernel_id), "execution_state", None) == "dead":
            raise Unavailable(f"kernel {kernel_id} is dead: restart it, then run its cells again")
        return kernel_id

    async def _session_kernel(self, path: str) -> str:
        try:
            model: dict[str, Any] = await self.session_manager.get_session(path=path)
        except Exception:  # jupyter-server's 404 for no such session
            raise NotFound(self._no_session(path)) from None
        kid = (model.get("kernel") or {}).get("id")
        if not isinstance(kid, str):
            raise NotFound(f"the session of notebook {path!r} has no kernel: start one")
        return kid

    def _no_session(self, path: str) -> str:
        """What to do about a notebook path that is neither served nor open in a session."""
        served = [f"{p} (GET {url_path_join(self.base_url, actions_path(notebook=p))})" for p in self.serving.pools]
        if self.serving.headless:
            # serve's server: no UI to open a notebook in, and Jupyter's APIs are off by default
            return f"notebook {path!r} is not served here: this server serves {', '.join(served)}"
        message = (
            f"no running session for notebook {path!r}: open it in Jupyter (or start one "
            "with POST /api/sessions), then run %load_ext notebook_actions in it"
        )
        return f"{message}; this server also serves {', '.join(served)}" if served else message

    async def target(self, *, kernel_id: str | None = None, notebook: str | None = None, hold: bool = False) -> Target:
        """The kernel a request is for, connected. ``hold``: a served notebook's kernel is
        leased, counted in flight until ``Target.release``, so the pool routes around it."""
        pool = self.serving.pool(notebook) if notebook is not None else None
        if pool is None or not hold:
            kid = await self.kernel_id(kernel_id=kernel_id, notebook=notebook)
            return Target(kid, await self.connect(kid), None)
        lease = await self._waiting(pool, pool.lease)
        try:
            return Target(lease.kernel_id, await self.connect(lease.kernel_id), lease)
        except BaseException:
            lease.release()
            raise

    async def _waiting(self, pool: Pool, get: Callable[[float], Awaitable[T]]) -> T:
        """``get`` a ready kernel of ``pool``; a request that would wait for one, while
        ``max_waiting`` others already do, is refused at once (``QueueFull``)."""
        if any(kernel.ready for kernel in pool.kernels):
            return await get(self.config.timeout)
        limit = self.config.max_waiting
        if limit is not None and pool.waiting >= limit:
            message = (
                f"{pool.path} has no ready kernel and {pool.waiting} requests already wait for one "
                f"(max_waiting): try again in {QUEUE_FULL_RETRY_SECONDS} s"
            )
            raise QueueFull(message, QUEUE_FULL_RETRY_SECONDS)
        pool.waiting += 1
        try:
            return await get(self.config.timeout)
        finally:
            pool.waiting -= 1

    def admit(self, key: str, *, anonymous: bool = False) -> None:
        """Count a call against its caller's rate limit (``RateLimited`` past it); ``key``
        names the caller (``_identity.limit_key``), ``anonymous`` says it has no identity."""
        limiter = self._visitors_limiter if anonymous else self._rate_limiter
        if limiter is not None:
            limiter.admit(key)

    @contextlib.asynccontextmanager
    async def using(
        self, *, kernel_id: str | None = None, notebook: str | None = None, hold: bool = True
    ) -> AsyncIterator[Target]:
        """``target`` for as long as the block runs (however it ends)."""
        target = await self.target(kernel_id=kernel_id, notebook=notebook, hold=hold)
        try:
            yield target
        finally:
            target.release()

    async def connect(self, kernel_id: str) -> Bridge:
        """The kernel's bridge, its comm open."""
        try:
            bridge = self.bridges.get(kernel_id)
        except UnknownKernel:
            raise NotFound(f"no running kernel {kernel_id} on this server") from None
        await bridge.ready(self.config.timeout)
        return bridge

    # --- what it exports --------------------------------------------------------------

    async def actions(self, target: Target, *, fresh: bool = False) -> dict[str, ActionInfo]:
        """The kernel's exported actions by name: as last listed on this bridge unless the
        kernel said they changed since, or ``fresh`` asks the kernel again."""
        bridge = target.bridge
        cached = self._listings.get(target.kernel_id)
        if cached is not None and cached[0] is bridge and not fresh:
            return cached[1]
        self.watch(target)
        call = bridge.request({"kind": "list"})
        try:
            message, _ = await call.reply(self.config.timeout)
        except TimedOut:
            # A listing runs no action: one that is not answered in time waited behind a
            # running cell (its busy status made it look started), so the kernel is busy (503).
            call.cancel()
            busy = (
                f"the kernel did not list its actions within {self.config.timeout:g} s: it is busy "
                "(a cell is running, or another action is); try again when it is idle"
            )
            raise KernelBusy(busy) from None
        except KernelBusy:
            call.cancel()
            raise
        if message.get("kind") != "actions":
            raise Internal(f"the kernel answered a list request with {message.get('kind')!r}")
        actions: dict[str, ActionInfo] = {info["name"]: info for info in message.get("actions") or []}
        self._listings[target.kernel_id] = (bridge, actions)
        return actions

    def watch(self, target: Target) -> None:
        """Listen on the kernel's bridge for its word that its exported actions changed."""
        bridge = target.bridge
        if bridge not in self._listening:
            self._listening.add(bridge)
            bridge.on_actions_changed.append(lambda: self._changed(bridge))

    def _changed(self, bridge: Bridge) -> None:
        cached = self._listings.get(bridge.kernel_id)
        if cached is not None and cached[0] is bridge:
            del self._listings[bridge.kernel_id]
        self.actions_changed(bridge.kernel_id)

    def actions_changed(self, kernel_id: str) -> None:
        """The kernel's exported actions changed, or may have (it restarted): tell whoever listens."""
        for listener in list(self.on_actions_changed):
            listener(kernel_id)

    def forget(self, kernel_id: str) -> None:
        self._listings.pop(kernel_id, None)

    # --- running them -----------------------------------------------------------------

    def invoke(self, target: Target, invoke: Invoke, *, timeout: float | None = None) -> Invocation:
        """Send the invocation (``Unsendable``, ``KernelGone`` if it cannot leave)."""
        message = invoke.message()
        call = target.bridge.request(dict(message), invoke.buffers)
        return Invocation(call, self.config.timeout if timeout is None else timeout)

    @contextlib.asynccontextmanager
    async def turn(self, target: Target, name: str | None) -> AsyncIterator[None]:
        """The block runs as one of the action's ``max_concurrency`` calls in flight on this
        server (per served notebook, or per kernel): it waits its turn, up to the timeout
        (``Unavailable`` past it). ``name``: the exported action's (None: called by id, no limit)."""
        info = None if name is None else (await self._limits_of(target)).get(name)
        limit = info.get("max_concurrency") if info is not None else None
        if name is None or limit is None:
            yield
            return
        where = target.lease.pool.path if target.lease is not None else target.kernel_id
        slots = self._turns.get((where, name))
        if slots is None or slots[0] != limit:  # new, or the action was redefined with another limit
            slots = self._turns[where, name] = (limit, asyncio.Semaphore(limit))
        semaphore = slots[1]
        self._waiting_turns[where, name] += 1
        try:
            await asyncio.wait_for(semaphore.acquire(), self.config.timeout)
        except TimeoutError:
            message = (
                f"action {name!r} takes {limit} calls at a time (max_concurrency) and none of those "
                f"in flight finished within {self.config.timeout:g} s: try again shortly"
            )
            raise Unavailable(message, retry_after=1) from None
        finally:
            self._waiting_turns[where, name] -= 1
        try:
            yield
        finally:
            semaphore.release()

    async def _limits_of(self, target: Target) -> dict[str, ActionInfo]:
        """The listing ``turn`` reads limits from. A served pool's kernel runs no cells, so
        it answers a listing at once; any other kernel may be running one, and a listing
        would wait behind it (and hold up threadsafe calls meant to answer meanwhile): for
        those, the listing this server already holds (any GET listing or MCP tools/list)."""
        if target.lease is not None:
            return await self.actions(target)
        cached = self._listings.get(target.kernel_id)
        return cached[1] if cached is not None and cached[0] is target.bridge else {}

    def waiting_turns(self, where: str, name: str) -> int:
        """Calls of action ``name`` of a served notebook or kernel waiting for their turn."""
        return self._waiting_turns[where, name]

    def upload(self, target: Target, name: str, content_type: str) -> Upload:
        """A file to send in chunks before the invoke that refers to it (``FileRef.upload``)."""
        return target.bridge.upload(name, content_type, timeout=self.config.timeout)
