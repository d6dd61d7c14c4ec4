"""The server's bridges, one per kernel, made on first use and dropped with their kernel."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from ._bridge import Bridge
from ._errors import KernelDied, KernelGone, ServiceError
from ._exits import ExitWatch, ended, process_id
from ._transport import Transport, transport_for

KERNEL_ACTIONS_SCHEMA = "https://events.jupyter.org/jupyter_server/kernel_actions/v1"


class UnknownKernel(LookupError):
    pass


def watch_restarts(manager: Any, on_event: Callable[[str], None], log: logging.Logger) -> Callable[[], None]:
    """Call ``on_event("restart")`` or ``on_event("dead")`` when a local kernel's restarter
    sees it die (before it restarts it); returns what stops watching. A remote kernel has
    no restarter here: nothing is watched."""
    if not hasattr(manager, "add_restart_callback"):
        return lambda: None
    callbacks: list[tuple[Callable[[], None], str]] = []
    for event in ("restart", "dead"):

        def callback(event: str = event) -> None:
            on_event(event)

        manager.add_restart_callback(callback, event)
        callbacks.append((callback, event))

    def unwatch() -> None:
        for callback, event in callbacks:
            try:
                manager.remove_restart_callback(callback, event)
            except Exception:
                log.debug("notebook_actions: removing a restart callback failed", exc_info=True)
        callbacks.clear()

    return unwatch


class Bridges:
    """Every bridge of this server, by kernel id."""

    def __init__(self, kernel_manager: Any, log: logging.Logger) -> None:
        self.kernel_manager = kernel_manager
        self.log = log
        self._bridges: dict[str, Bridge] = {}
        self._unwatch: dict[Bridge, Callable[[], None]] = {}  # each bridge's restart watch
        #: called with the kernel id and the reason whenever a bridge closes
        self.on_close: list[Callable[[str, ServiceError], None]] = []

    def __contains__(self, kernel_id: str) -> bool:
        return kernel_id in self._bridges

    def __len__(self) -> int:
        return len(self._bridges)

    def get(self, kernel_id: str) -> Bridge:
        """The kernel's bridge, made (not yet opened) if it has none; ``UnknownKernel`` if
        the server runs no such kernel."""
        bridge = self._bridges.get(kernel_id)
        if bridge is not None and bridge.closed is None:
            return bridge
        try:
            manager = self.kernel_manager.get_kernel(kernel_id)
        except KeyError:
            raise UnknownKernel(kernel_id) from None

        def make_transport(topics: Sequence[bytes]) -> Transport:
            return transport_for(manager, topics, self.log)

        bridge = Bridge(kernel_id, make_transport, log=self.log, on_close=self._closed)
        bridge.process = process_id(manager)
        self._bridges[kernel_id] = bridge
        reasons = {"restart": "the kernel died and was restarted", "dead": "the kernel died"}
        unwatch = watch_restarts(manager, lambda event: bridge.close(KernelDied(reasons[event])), self.log)
        # A local kernel's process exit fails its requests at once (the restarter polls).
        pid = bridge.process
        exits = ExitWatch(pid, lambda: bridge.close(KernelDied(ended(pid)))) if pid is not None else None

        def stop() -> None:
            unwatch()
            if exits is not None:
                exits.cancel()

        self._unwatch[bridge] = stop
        return bridge

    def _closed(self, bridge: Bridge) -> None:
        if self._bridges.get(bridge.kernel_id) is bridge:
            del self._bridges[bridge.kernel_id]
        self._unwatch.pop(bridge, lambda: None)()
        for listener in self.on_close:
            if bridge.closed is not None:
                listener(bridge.kernel_id, bridge.closed)

    def drop(self, kernel_id: str, reason: str) -> None:
        bridge = self._bridges.get(kernel_id)
        if bridge is not None:
            bridge.close(KernelGone(reason))

    async def on_kernel_action(self, logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        """jupyter-server's kernel_actions events: drop the bridge of a kernel that went away."""
        kernel_id = data.get("kernel_id")
        action = data.get("action")
        if not isinstance(kernel_id, str):
            return
        if action == "shutdown":
            self.drop(kernel_id, "the kernel was shut down")
        elif action == "restart":
            bridge = self._bridges.get(kernel_id)
            if bridge is None:
                return
            # The event comes after the restart: a bridge made since then may already
            # talk to the new process. A remote kernel's process is unknown: drop it.
            process = bridge.process
            try:
                now = process_id(self.kernel_manager.get_kernel(kernel_id))
            except KeyError:
                now = None
            if process is None or now is None or process != now:
                bridge.close(KernelDied("the kernel was restarted"))
