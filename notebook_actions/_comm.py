"""The kernel comm target that the server extension opens to invoke actions over HTTP."""

from __future__ import annotations

from typing import Any

from ._dispatcher import Channel
from ._protocol import COMM_TARGET, Buffer, Outgoing, Ready

#: Sent when the comm opens, so the bridge knows the extension is loaded (an unknown
#: target would close the comm at once instead).
READY: Ready = {"kind": "ready", "id": "", "protocol": 1}


def open_channel(comm: Any, open_msg: dict[str, Any]) -> None:
    def send(data: Outgoing, buffers: list[Buffer]) -> None:
        comm.send(data, buffers=buffers)

    # HTTP callers are strangers: errors carry no traceback (it is in the kernel's log).
    channel = Channel(send, include_traceback=False, batch_replies=True)
    comm.on_msg(lambda msg: channel.receive(msg["content"]["data"], msg.get("buffers") or ()))
    comm.on_close(lambda msg: channel.close())
    comm.send(READY)


def register_target() -> None:
    from comm import get_comm_manager

    get_comm_manager().register_target(COMM_TARGET, open_channel)


def unregister_target() -> None:
    from comm import get_comm_manager

    manager = get_comm_manager()
    if COMM_TARGET in manager.targets:
        manager.unregister_target(COMM_TARGET, open_channel)
