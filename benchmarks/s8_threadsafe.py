"""Scenario 8: a threadsafe action while a CPU-bound cell runs, vs the same with the kernel idle.

A trivial threadsafe action (``tadd(a, b)``) is timed over HTTP (one keep-alive
connection to jupyter-server with the extension, whose bridge sends on a subshell) and
through a ``Form``'s comm with its messages on a subshell (as JupyterLab sends them):
first with the kernel idle (the baseline), then while a cell spins the CPU until told to
stop. The ratio is what the running cell costs a threadsafe call (the cell holds the
GIL; the subshell's thread gets it at Python's switch interval). Beside it, a plain
action sent while the same kind of cell runs for a fixed time waits for it to end.
"""

from __future__ import annotations

import http.client
import json
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from jupyter_client.blocking.client import BlockingKernelClient

from ._env import Bench
from ._kernel import WidgetComm, connect, execute, wait_results
from ._report import Row
from ._servers import HOST, JupyterServer
from ._stats import Latency, fmt_latency, fmt_seconds

GOAL_RATIO = 10.0

SETUP = """%%use_server --threadsafe
def tadd(a: int, b: int) -> int:
    return a + b
"""

#: Spins the CPU (holding the GIL between bytecodes, as numeric Python code does) until
#: the file exists, or for ``seconds``.
SPIN = """import os, time
open({started!r}, "w").close()
_until = time.monotonic() + {seconds}
while not os.path.exists({release!r}) and time.monotonic() < _until:
    sum(range(1000))
"""


def new_subshell(kc: BlockingKernelClient) -> str:
    kc.control_channel.send(kc.session.msg("create_subshell_request", {}))
    reply = kc.get_control_msg(timeout=30)
    if reply["content"].get("status") != "ok":
        message = f"the kernel made no subshell: {reply['content']}"
        raise RuntimeError(message)
    return str(reply["content"]["subshell_id"])


class SubshellWidgetComm(WidgetComm):
    """A widget's comm whose messages go on a subshell, as JupyterLab's commsOverSubshells."""

    def __init__(self, kc: BlockingKernelClient, comm_id: str, subshell_id: str) -> None:
        super().__init__(kc, "", comm_id)
        self.subshell_id = subshell_id

    def send(self, data: dict[str, Any], buffers: Any = ()) -> None:
        content = {"method": "custom", "content": {"notebook_actions": data}}
        msg = self.kc.session.msg("comm_msg", {"comm_id": self.comm_id, "data": content})
        msg["header"]["subshell_id"] = self.subshell_id
        self.kc.session.send(self.kc.shell_channel.socket, msg)


@contextmanager
def spinning(kc: BlockingKernelClient, seconds: float = 600) -> Iterator[str]:
    """A CPU-bound cell runs for the duration of the block (at most ``seconds``)."""
    with tempfile.TemporaryDirectory() as folder:
        started, release = Path(folder, "started"), Path(folder, "release")
        msg_id = kc.execute(SPIN.format(started=str(started), release=str(release), seconds=seconds))
        deadline = time.monotonic() + 60
        while not started.exists():
            if time.monotonic() > deadline:
                message = "the spinning cell did not start"
                raise RuntimeError(message)
            time.sleep(0.005)
        try:
            yield msg_id
        finally:
            release.touch()
            while kc.get_shell_msg(timeout=120)["parent_header"].get("msg_id") != msg_id:
                pass


def http_round_trips(server: JupyterServer, kid: str, name: str, n: int) -> list[float]:
    path = server.path(f"notebook-actions/api/kernels/{kid}/actions/{name}")
    headers = {**server.auth, "Content-Type": "application/json"}
    body = json.dumps({"a": 1, "b": 2})
    connection = http.client.HTTPConnection(HOST, server.port, timeout=120)
    samples = []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            connection.request("POST", path, body, headers)
            response = connection.getresponse()
            data = response.read()
            samples.append(time.perf_counter() - t0)
            if response.status != 200 or json.loads(data) != {"value": 3}:
                message = f"{name} answered {response.status} {data[:300]!r}"
                raise AssertionError(message)
    finally:
        connection.close()
    return samples


def widget_round_trips(comm: WidgetComm, action_id: str, n: int, start: int) -> list[float]:
    samples = []
    for i in range(start, start + n):
        rid = f"w{i}"
        t0 = time.perf_counter()
        comm.send({"kind": "invoke", "id": rid, "action": action_id, "args": {"a": 1, "b": 2}})
        value = wait_results(comm, {rid})[rid]
        samples.append(time.perf_counter() - t0)
        if value != 3:
            message = f"the widget's call answered {value!r}"
            raise AssertionError(message)
    return samples


def run(bench: Bench) -> list[Row]:
    sizes = bench.sizes
    n = min(sizes.roundtrips, 200)
    plain_cell = 0.5 if sizes.smoke else 2.0
    server = bench.jupyter()
    (kid,) = bench.kernels(1)  # `add` is exported there (plain)
    with connect(server.connection_info(kid)) as kc:
        execute(kc, SETUP)
        out = execute(
            kc,
            "import json\nfrom notebook_actions import Form\n"
            "_f = Form(tadd)\nprint(json.dumps([_f.model_id, tadd.id]))",
        )
        model_id, action_id = json.loads(out.strip().splitlines()[-1])
        comm = SubshellWidgetComm(kc, model_id, new_subshell(kc))

        http_round_trips(server, kid, "tadd", 10)  # warm: the bridge is open, code paths hot
        widget_round_trips(comm, action_id, 10, 0)
        http_idle = Latency.of(http_round_trips(server, kid, "tadd", n))
        widget_idle = Latency.of(widget_round_trips(comm, action_id, n, 1000))
        with spinning(kc):
            http_busy = Latency.of(http_round_trips(server, kid, "tadd", n))
            widget_busy = Latency.of(widget_round_trips(comm, action_id, n, 2000))
        with spinning(kc, plain_cell):
            t0 = time.perf_counter()
            http_round_trips(server, kid, "add", 1)
            plain_wait = time.perf_counter() - t0
    http_ratio = http_busy.p50 / http_idle.p50
    widget_ratio = widget_busy.p50 / widget_idle.p50
    goal = f"<= {GOAL_RATIO:g}x idle"
    return [
        Row(
            "8a",
            "threadsafe add over HTTP while a CPU-bound cell runs",
            fmt_latency(http_busy),
            f"kernel idle: {fmt_latency(http_idle)}",
            http_ratio,
            goal,
            http_ratio <= GOAL_RATIO,
        ),
        Row(
            "8b",
            "threadsafe add through a Form's comm (subshell) while a CPU-bound cell runs",
            fmt_latency(widget_busy),
            f"kernel idle: {fmt_latency(widget_idle)}",
            widget_ratio,
            goal,
            widget_ratio <= GOAL_RATIO,
        ),
        Row(
            "8c",
            f"plain add over HTTP sent as a {plain_cell:g} s CPU-bound cell starts",
            fmt_seconds(plain_wait),
            f"threadsafe add beside such a cell: p50 {fmt_seconds(http_busy.p50)}",
            plain_wait / http_busy.p50,
            "for reference: it waits for the cell",
            None,
        ),
    ]
