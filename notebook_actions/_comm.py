"""The kernel comm target that the server extension opens to invoke actions over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._caller import server_caller
from ._dispatcher import Channel
from ._kernel import kernel_loop
from ._protocol import COMM_TARGET, ActionsChanged, Buffer, Outgoing, Ready
from ._registry import registry
from ._threads import route_our_messages_to_their_subshell

#: Sent when the comm opens, so the bridge knows the extension is loaded (an unknown
#: target would close the comm at once instead).
READY: Ready = {"kind": "ready", "id": "", "protocol": 1}


def open_channel(comm: Any, _open_msg: dict[str, Any]) -> None:
    def send(data: Outgoing, buffers: list[Buffer]) -> None:
        comm.send(data, buffers=buffers)

    # HTTP callers are strangers: errors carry no traceback (it is in the kernel's log).
    # The server sets each invoke's caller from the identity it authenticated.
    channel = Channel(send, include_traceback=False, batch_replies=True, caller=server_caller)
    comm.on_msg(lambda msg: channel.receive(msg["content"]["data"], msg.get("buffers") or ()))
    announce = _announcer(comm)
    registry.listeners.append(announce)

    def close(_msg: Any) -> None:
        channel.close()
        if announce in registry.listeners:
            registry.listeners.remove(announce)

    comm.on_close(close)
    # The bridge sends on a subshell of its own: threadsafe actions answer there.
    route_our_messages_to_their_subshell(comm, lambda _data: True)
    comm.send(READY)


def _announcer(comm: Any) -> Callable[[], None]:
    """Tell the server when the exported actions change: once per cell, not per action
    (a cell registers its functions one by one, then returns to the loop)."""
    pending = False
    changed: ActionsChanged = {"kind": "changed", "id": ""}

    def send() -> None:
        nonlocal pending
        pending = False
        if announce in registry.listeners:  # the comm may have closed meanwhile
            comm.send(changed)

    def announce() -> None:
        nonlocal pending
        loop = kernel_loop()
        if loop is None:
            send()
        elif not pending:
            pending = True
            loop.call_soon_threadsafe(send)

    return announce


def register_target() -> None:
    from comm import get_comm_manager

    get_comm_manager().register_target(COMM_TARGET, open_channel)


def unregister_target() -> None:
    from comm import get_comm_manager

    manager = get_comm_manager()
    if COMM_TARGET in manager.targets:
        manager.unregister_target(COMM_TARGET, open_channel)
