"""Scenario 2: one invocation through a real kernel's comm vs a bare comm echo in it.

Both go over the same ZMQ sockets with the same client, as the server's bridge talks to
a kernel; the echo is the floor any comm protocol stands on. The two alternate in
blocks, so that load from elsewhere on the machine falls on both alike.
"""

from __future__ import annotations

import time

from jupyter_client.blocking.client import BlockingKernelClient

from ._env import Bench, actions_cell
from ._kernel import ECHO_SETUP, ECHO_TARGET, Comm, execute, local_kernel, open_actions_comm, wait_results
from ._report import Row
from ._sizes import Sizes
from ._stats import Latency, fmt_latency

GOAL_RATIO = 1.3


def prepare(kc: BlockingKernelClient) -> None:
    """Load the extension, export the benchmark actions, register the echo target."""
    execute(kc, "%load_ext notebook_actions")
    execute(kc, actions_cell(["add"]))
    execute(kc, ECHO_SETUP)


def round_trips(comm: Comm, n: int, start: int, echo: bool) -> list[float]:
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
    round_trips(actions, 20, 0, echo=False)
    round_trips(echo, 20, 0, echo=True)
    ours: list[Latency] = []
    base: list[Latency] = []
    n = sizes.roundtrips
    for rep in range(sizes.repeats):
        start = 1000 + rep * n
        ours.append(Latency.of(round_trips(actions, n, start, echo=False)))
        base.append(Latency.of(round_trips(echo, n, start, echo=True)))
    return Latency.median_of(ours), Latency.median_of(base)


def run(bench: Bench) -> list[Row]:
    sizes, workspace = bench.sizes, bench.workspace
    with local_kernel(workspace.env, workspace.log("kernel-s2")) as (_, kc):
        prepare(kc)
        ours, base = measure(kc, sizes)
    ratio = ours.p50 / base.p50
    return [
        Row(
            "2",
            "kernel comm round trip: invoke add(a, b)",
            fmt_latency(ours),
            f"bare comm echo: {fmt_latency(base)}",
            ratio,
            f"<= {GOAL_RATIO}x",
            ratio <= GOAL_RATIO,
        ),
    ]
