"""Talking to a kernel the way the server's bridge does: comm messages over ZMQ."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.manager import KernelManager

#: A comm target that sends every message straight back: the floor under any comm protocol.
ECHO_TARGET = "notebook_actions_bench_echo"

ECHO_SETUP = f"""
from comm import get_comm_manager as _bench_get_comm_manager

def _bench_echo_open(comm, open_msg):
    def echo(msg):
        data = msg["content"]["data"]
        if data.get("kind") == "size":  # answer with the size of what arrived, not the bytes
            comm.send({{"kind": "size", "id": data["id"],
                        "size": sum(len(b) for b in msg.get("buffers") or ())}})
        else:
            comm.send(data, buffers=msg.get("buffers") or None)
    comm.on_msg(echo)

_bench_get_comm_manager().register_target({ECHO_TARGET!r}, _bench_echo_open)
"""


class KernelError(RuntimeError):
    """Code the benchmark ran in a kernel raised."""


def execute(kc: BlockingKernelClient, code: str, timeout: float = 60) -> str:
    """Run ``code`` in the kernel; return what it printed; raise with the traceback if it failed."""
    printed: list[str] = []

    def output(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream":
            printed.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            printed.append("\n".join(msg["content"]["traceback"]))

    reply = kc.execute_interactive(code, timeout=timeout, output_hook=output, store_history=False)
    if reply["content"]["status"] != "ok":
        message = f"the kernel failed to run benchmark set-up code:\n{code}\n{''.join(printed)}"
        raise KernelError(message)
    return "".join(printed)


@contextmanager
def local_kernel(env: dict[str, str], log: Path) -> Iterator[tuple[KernelManager, BlockingKernelClient]]:
    """A kernel started here (no server), its output in ``log``, stopped on exit."""
    km = KernelManager(kernel_name="python3")
    with log.open("ab") as out:
        km.start_kernel(env=env, stdout=out, stderr=subprocess.STDOUT)
    kc = km.blocking_client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        km.cleanup_resources()


@contextmanager
def connect(info: KernelConnectionInfo) -> Iterator[BlockingKernelClient]:
    """A second client of a kernel a server started, from its connection info."""
    kc = BlockingKernelClient()
    kc.load_connection_info(info)
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        yield kc
    finally:
        kc.stop_channels()


class Comm:
    """The client end of a comm opened from outside the kernel, as a bridge opens one
    (or, given ``comm_id``, of a comm the kernel opened, such as a widget's)."""

    def __init__(self, kc: BlockingKernelClient, target: str, comm_id: str | None = None) -> None:
        self.kc = kc
        self.comm_id = comm_id or uuid.uuid4().hex
        if comm_id is None:
            content = {"comm_id": self.comm_id, "target_name": target, "data": {}}
            kc.shell_channel.send(kc.session.msg("comm_open", content))

    def send(self, data: dict[str, Any], buffers: Sequence[bytes | memoryview] = ()) -> None:
        msg = self.kc.session.msg("comm_msg", {"comm_id": self.comm_id, "data": data})
        self.kc.session.send(self.kc.shell_channel.socket, msg, buffers=list(buffers) or None)

    def receive(self, timeout: float = 30) -> tuple[dict[str, Any], list[bytes]]:
        """The next message this comm's kernel end sent (other iopub traffic is skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                message = f"no comm message from the kernel within {timeout} s"
                raise TimeoutError(message)
            msg = self.kc.get_iopub_msg(timeout=left)
            content = msg["content"]
            if msg["msg_type"] == "comm_msg" and content.get("comm_id") == self.comm_id:
                return content["data"], [bytes(b) for b in msg.get("buffers") or ()]
            if msg["msg_type"] == "comm_close" and content.get("comm_id") == self.comm_id:
                message = f"the kernel closed the comm: {content.get('data')!r}"
                raise RuntimeError(message)


#: The key that wraps notebook-actions messages among a widget's custom messages.
WIDGET_ENVELOPE = "notebook_actions"


class WidgetComm(Comm):
    """A widget's comm, talking anywidget custom messages as its front end does:
    ``{"method": "custom", "content": {"notebook_actions": <message>}}``."""

    def send(self, data: dict[str, Any], buffers: Sequence[bytes | memoryview] = ()) -> None:
        super().send({"method": "custom", "content": {WIDGET_ENVELOPE: data}}, buffers)

    def receive(self, timeout: float = 30) -> tuple[dict[str, Any], list[bytes]]:
        while True:
            data, buffers = super().receive(timeout)
            content = data.get("content")
            if data.get("method") == "custom" and isinstance(content, dict) and WIDGET_ENVELOPE in content:
                return content[WIDGET_ENVELOPE], buffers


def replies(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Unpack a (possibly batched) notebook-actions reply."""
    if data.get("kind") == "batch":
        return [m for item in data.get("messages") or [] for m in replies(item)]
    return [data]


def wait_results(comm: Comm, ids: set[str], timeout: float = 60) -> dict[str, Any]:
    """Receive until every id in ``ids`` has its final reply; return the values by id."""
    values: dict[str, Any] = {}
    while len(values) < len(ids):
        data, _ = comm.receive(timeout)
        for reply in replies(data):
            if reply.get("id") in ids:
                if reply.get("kind") != "result":
                    message = f"the action did not return a result: {reply!r}"
                    raise AssertionError(message)
                values[reply["id"]] = reply["value"]
    return values


def open_actions_comm(kc: BlockingKernelClient, target: str = "notebook_actions") -> Comm:
    """Open the notebook-actions comm and wait for its ``ready``."""
    comm = Comm(kc, target)
    data, _ = comm.receive(timeout=30)
    if data.get("kind") != "ready":
        message = f"expected the comm's 'ready' message, got {data!r}"
        raise RuntimeError(message)
    return comm
