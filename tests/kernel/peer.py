"""A client's end of one comm in a real kernel (jupyter_client), speaking the protocol.

The same helper stands in for the server's bridge (the ``notebook_actions`` comm
target: protocol messages are the comm's data) and for a widget's browser side
(``widget=True``: they travel as custom messages in the widget's envelope).
"""

from __future__ import annotations

import queue
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jupyter_client.blocking.client import BlockingKernelClient

from notebook_actions._protocol import COMM_TARGET, FINAL_KINDS, split

ENVELOPE = "notebook_actions"  # (a widget's custom messages; see widgets/_base.py)


def execute(kc: BlockingKernelClient, code: str, timeout: float = 60) -> str:
    """Run a cell; return what it printed (and fail the test if it raised)."""
    out: list[str] = []

    def hook(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])

    reply = kc.execute_interactive(code, timeout=timeout, output_hook=hook)
    assert reply["content"]["status"] == "ok", reply["content"]
    return "".join(out)


@dataclass
class Received:
    reply: dict[str, Any]
    buffers: list[bytes]
    message: int  # which comm message carried it (replies in one batch share it)
    sent: datetime  # when the kernel sent that message, by the kernel's clock


class CommPeer:
    def __init__(self, kc: BlockingKernelClient, comm_id: str | None = None, *, widget: bool = False) -> None:
        self.kc = kc
        self.comm_id = comm_id or uuid.uuid4().hex
        self.widget = widget
        self.received: list[Received] = []
        self.closed = False
        self._messages = 0

    def execute(self, code: str) -> str:
        return execute(self.kc, code)

    def open(self, subshell_id: str | None = None) -> dict[str, Any]:
        """Open a comm to the server's target; its first reply (``ready``), or ``closed``."""
        content = {"comm_id": self.comm_id, "target_name": COMM_TARGET, "data": {}}
        self._send_shell(self.kc.session.msg("comm_open", content), [], subshell_id)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (self.closed or self.received):
            self.pump(0.5)
        return self.received.pop(0).reply if self.received else {"kind": "closed"}

    def send(self, message: dict[str, Any], buffers: list[bytes] | None = None, subshell_id: str | None = None) -> None:
        data = {"method": "custom", "content": {ENVELOPE: message}} if self.widget else message
        msg = self.kc.session.msg("comm_msg", {"comm_id": self.comm_id, "data": data})
        self._send_shell(msg, buffers or [], subshell_id)

    def _send_shell(self, msg: dict[str, Any], buffers: list[bytes], subshell_id: str | None) -> None:
        if subshell_id is not None:  # as JupyterLab's commsOverSubshells does
            msg["header"]["subshell_id"] = subshell_id
        self.kc.session.send(self.kc.shell_channel.socket, msg, buffers=buffers)

    def pump(self, timeout: float = 0.2) -> None:
        """Take one iopub message (if one comes within ``timeout``) and keep our replies."""
        try:
            msg = self.kc.get_iopub_msg(timeout=timeout)
        except queue.Empty:
            return
        content = msg["content"]
        if content.get("comm_id") != self.comm_id:
            return
        if msg["msg_type"] == "comm_close":
            self.closed = True
            return
        if msg["msg_type"] != "comm_msg":
            return
        data = content["data"]
        if self.widget:
            if data.get("method") != "custom" or ENVELOPE not in data.get("content", {}):
                return  # the widget's state updates
            data = data["content"][ENVELOPE]
        self._messages += 1
        buffers = [bytes(b) for b in msg.get("buffers") or []]
        for reply, own in split(data, buffers):
            self.received.append(Received(reply, [bytes(b) for b in own], self._messages, msg["header"]["date"]))

    def of(self, rid: str) -> list[dict[str, Any]]:
        return [r.reply for r in self.received if r.reply.get("id") == rid]

    def wait(self, rid: str, kind: str | None = None, count: int = 1, timeout: float = 30) -> list[dict[str, Any]]:
        """Pump until ``rid`` has its final reply (or ``count`` replies of ``kind``)."""
        deadline = time.monotonic() + timeout

        def done() -> bool:
            got = self.of(rid)
            if kind is None:
                return any(r["kind"] in FINAL_KINDS for r in got)
            return sum(1 for r in got if r["kind"] == kind) >= count

        while not done():
            assert time.monotonic() < deadline, f"no reply for {rid}: {self.of(rid)}"
            self.pump()
        return self.of(rid)

    def wait_final(self, ids: set[str], timeout: float = 20) -> dict[str, list[dict[str, Any]]]:
        """Pump until every request in ``ids`` has its final reply; the replies by id."""
        deadline = time.monotonic() + timeout
        for rid in sorted(ids):
            self.wait(rid, timeout=max(deadline - time.monotonic(), 0.01))
        return {rid: self.of(rid) for rid in ids}
