"""A liveness signal for kernels behind a gateway.

A local kernel's death is heard at once (its process exits). A kernel on another host,
launched there by the gateway (Enterprise Gateway's DistributedProcessProxy), can vanish
with its host and nothing closes: the gateway keeps it in its list and keeps our websocket
open, and every request routed to it waits for the timeout. So the pool asks each gateway
kernel for a ``kernel_info`` on its control channel every ``PROBE_SECONDS``, over a
websocket of its own, and calls the kernel lost when none of them was answered for
``SILENCE_SECONDS``. ipykernel answers the control channel from a thread of its own, so a
kernel busy with a long action still answers. The silence allowed is several probes long:
a gateway busy elsewhere (Enterprise Gateway 3.3 launches kernels over SSH on its event
loop, and blocks while a host it tries is gone) delays every kernel's answers for seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from ..kernels._gateway_ws import GatewayConnectionError, GatewaySocket, WireMessage
from ..kernels._transport import new_header

PROBE_SECONDS = 2.0
SILENCE_SECONDS = 10.0


def watch_liveness(kernel_id: str, on_lost: Callable[[str], None], log: logging.Logger) -> Callable[[], None]:
    """Probe the gateway kernel ``kernel_id`` until the returned function is called; ``on_lost``
    gets a reason once it stops answering (then probing stops)."""
    task = asyncio.ensure_future(_probe(kernel_id, on_lost, log))

    def stop() -> None:
        task.cancel()

    return stop


async def _probe(kernel_id: str, on_lost: Callable[[str], None], log: logging.Logger) -> None:
    session = uuid.uuid4().hex
    sent: set[str] = set()
    answered = time.monotonic()

    def receive(msg: WireMessage) -> None:
        nonlocal answered
        if msg.channel == "control" and msg.parent_header.get("msg_id") in sent:
            answered = time.monotonic()
            sent.clear()  # an answer to any probe: the older ones need none

    socket: GatewaySocket | None = None
    try:
        while True:
            if socket is None or not socket.is_open:
                socket = GatewaySocket(kernel_id, receive, lambda _reason: None, log)
                try:
                    await asyncio.wait_for(socket.connect(), PROBE_SECONDS * 2)
                except GatewayConnectionError as err:
                    if "has no kernel" in err.message:
                        return  # shut down or culled: the pool hears that from the gateway
                    socket = None
                except asyncio.TimeoutError:
                    socket.close()
                    socket = None
            if socket is not None:
                header = new_header("kernel_info_request", session)
                with contextlib.suppress(ConnectionError):
                    socket.send(WireMessage("control", header))
                    sent.add(header["msg_id"])
            silence = time.monotonic() - answered
            if silence > SILENCE_SECONDS:
                on_lost(
                    f"the kernel stopped answering (no kernel_info reply for {silence:.0f} s): "
                    "its host or the link to it is gone"
                )
                return
            if silence > PROBE_SECONDS * 2:
                log.warning("notebook_actions: kernel %s has not answered for %.0f s", kernel_id, silence)
            await asyncio.sleep(PROBE_SECONDS)
    finally:
        if socket is not None:
            socket.close()


def forget(kernel_manager: Any, kernel_id: str) -> None:
    """Drop a lost gateway kernel from the server's kernel manager (the pool starts a
    replacement). The gateway is not asked to shut it down: Enterprise Gateway 3.3 would try
    to reach the host over SSH, on its event loop, for tens of seconds, stalling every other
    kernel it serves; it forgets the kernel itself when it stops, or when its culler runs."""
    kernel_manager.remove_kernel(kernel_id)
