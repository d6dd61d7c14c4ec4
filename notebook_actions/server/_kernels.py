"""The server's bridges, one per kernel, made on first use and dropped with their kernel."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from ._bridge import Bridge, BridgeError, KernelDied, KernelGone
from ._exits import ExitWatch, ended, process_id
from ._transport import Transport, transport_for

KERNEL_ACTIONS_SCHEMA = "https://events.jupyter.org/jupyter_server/kernel_actions/v1"


class UnknownKernel(LookupError):
    pass


class Bridges:
    """Every bridge of this server, by kernel id."""

    def __init__(self, kernel_manager: Any, log: logging.Logger) -> None:
        self.kernel_manager = kernel_manager
        self.log = log
        self._bridges: dict[str, Bridge] = {}
        self._restart_callbacks: dict[str, list[tuple[Any, Callable[[], None], str]]] = {}
        self._exits: dict[str, ExitWatch] = {}
        #: called with the kernel id and the reason whenever a bridge closes
        self.on_close: list[Callable[[str, BridgeError], None]] = []

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
        self._watch(kernel_id, manager, bridge)
        return bridge

    def _watch(self, kernel_id: str, manager: Any, bridge: Bridge) -> None:
        # A local kernel's process exit fails its requests at once; its restarter reports
        # automatic restarts and deaths (polling, a few seconds later).
        previous = self._exits.pop(kernel_id, None)
        if previous is not None:
            previous.cancel()
        if bridge.process is not None:
            pid = bridge.process
            self._exits[kernel_id] = ExitWatch(pid, lambda: bridge.close(KernelDied(ended(pid))))
        if not hasattr(manager, "add_restart_callback"):
            return
        callbacks: list[tuple[Any, Callable[[], None], str]] = []
        for event, reason in (("restart", "the kernel died and was restarted"), ("dead", "the kernel died")):

            def callback(bridge: Bridge = bridge, reason: str = reason) -> None:
                bridge.close(KernelDied(reason))

            manager.add_restart_callback(callback, event)
            callbacks.append((manager, callback, event))
        self._restart_callbacks[kernel_id] = callbacks

    def _closed(self, bridge: Bridge) -> None:
        if self._bridges.get(bridge.kernel_id) is bridge:
            del self._bridges[bridge.kernel_id]
            watch = self._exits.pop(bridge.kernel_id, None)
            if watch is not None:
                watch.cancel()
        for manager, callback, event in self._restart_callbacks.pop(bridge.kernel_id, []):
            try:
                manager.remove_restart_callback(callback, event)
            except Exception:
                self.log.debug("notebook_actions: removing a restart callback failed", exc_info=True)
        for listener in self.on_close:
            if bridge.closed is not None:
                listener(bridge.kernel_id, bridge.closed)

    def drop(self, kernel_id: str, reason: str) -> None:
        bridge = self._bridges.get(kernel_id)
        if bridge is not None:
            bridge.close(KernelGone(reason))

    def close_all(self) -> None:
        for bridge in list(self._bridges.values()):
            bridge.close(KernelGone("the server is shutting down"))

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
