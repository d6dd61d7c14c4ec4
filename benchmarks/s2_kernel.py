"""Scenario 2: one invocation through a real kernel's comm vs a bare comm echo in it.

Both go over the same ZMQ sockets with the same client, as the server's bridge talks to
a kernel; the echo is the floor any comm protocol stands on. The two alternate in
blocks, so that load from elsewhere on the machine falls on both alike.
"""

from __future__ import annotations

import time
from typing import Any

from jupyter_client import BlockingKernelClient

from ._env import Bench
from ._kernel import ECHO_SETUP, ECHO_TARGET, Comm, execute, local_kernel, open_actions_comm, replies
from ._report import Row
from ._sizes import Sizes
from ._stats import Latency, fmt_latency, fmt_seconds

GOAL_RATIO = 1.3

ACTIONS_CELL = """%%use_server
def add(a: int, b: int) -> int:
    return a + b

async def nap(seconds: float) -> float:
    import asyncio
    await asyncio.sleep(seconds)
    return seconds
"""


def prepare(kc: BlockingKernelClient) -> None:
    """Load the extension, export ``add`` and ``nap``, register the echo target."""
    execute(kc, "%load_ext notebook_actions")
    execute(kc, ACTIONS_CELL)
    execute(kc, ECHO_SETUP)


def invoke(comm: Comm, rid: str, name: str, args: dict[str, Any]) -> None:
    comm.send({"kind": "invoke", "id": rid, "name": name, "args": args})


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


def _round_trips(comm: Comm, n: int, start: int, echo: bool) -> list[float]:
    samples = []
    clock = time.perf_counter
    for i in range(start, start + n):
        rid = f"r{i}"
        message = {"kind": "invoke", "id": rid, "name": "add", "args": {"a": 1, "b": 2}}
        t0 = clock()
        comm.send(message)
        if echo:
            data, _ = comm.receive()
            assert data["id"] == rid, data
        else:
            value = wait_results(comm, {rid})[rid]
            assert value == 3, value
        samples.append(clock() - t0)
    return samples


def measure(kc: BlockingKernelClient, sizes: Sizes) -> tuple[Latency, Latency]:
    actions = open_actions_comm(kc)
    echo = Comm(kc, ECHO_TARGET)
    _round_trips(actions, 20, 0, echo=False)
    _round_trips(echo, 20, 0, echo=True)
    ours: list[Latency] = []
    base: list[Latency] = []
    n = sizes.roundtrips
    for rep in range(sizes.repeats):
        start = 1000 + rep * n
        ours.append(Latency.of(_round_trips(actions, n, start, echo=False)))
        base.append(Latency.of(_round_trips(echo, n, start, echo=True)))
    return Latency.median_of(ours), Latency.median_of(base)


def concurrent(kc: BlockingKernelClient, sizes: Sizes) -> float:
    """Seconds until ``sizes.concurrent`` calls of ``nap`` sent at once have all answered."""
    comm = open_actions_comm(kc)
    ids = {f"c{i}" for i in range(sizes.concurrent)}
    t0 = time.perf_counter()
    for rid in ids:
        invoke(comm, rid, "nap", {"seconds": sizes.sleep})
    wait_results(comm, ids)
    return time.perf_counter() - t0


def run(bench: Bench) -> list[Row]:
    sizes, workspace = bench.sizes, bench.workspace
    with local_kernel(workspace.env, workspace.log("kernel-s2")) as (_, kc):
        prepare(kc)
        ours, base = measure(kc, sizes)
        wall = concurrent(kc, sizes)
    ratio = ours.p50 / base.p50
    n, sleep = sizes.concurrent, sizes.sleep
    return [
        Row("2", "kernel comm round trip: invoke add(a, b)", fmt_latency(ours),
            f"bare comm echo: {fmt_latency(base)}", ratio, f"<= {GOAL_RATIO}x", ratio <= GOAL_RATIO),
        Row("2b", f"kernel comm: {n} concurrent async calls sleeping {fmt_seconds(sleep)}",
            fmt_seconds(wall), f"one sleep: {fmt_seconds(sleep)}", wall / sleep,
            "- (no server in the path; see 4)", None),
    ]
