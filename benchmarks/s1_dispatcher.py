"""Scenario 1: what the dispatcher adds to calling a 2-argument function directly.

In this process, no kernel: a ``Channel`` with a send that only keeps the reply, the
same code every transport runs (resolve, validate, call, encode, reply).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from notebook_actions._action import Action
from notebook_actions._dispatcher import Channel
from notebook_actions._registry import Registry

from ._env import Bench
from ._report import Row
from ._sizes import Sizes
from ._stats import Latency, fmt_latency, fmt_seconds

GOAL_ADDED = 30e-6


def add(a: int, b: int) -> int:
    return a + b


def _direct_per_call(n: int) -> float:
    """Seconds per direct call, timed over a whole loop (one call is below the clock's grain)."""
    f = add
    start = time.perf_counter()
    for _ in range(n):
        f(1, 2)
    return (time.perf_counter() - start) / n


def _dispatched(channel: Channel, messages: list[dict[str, Any]], sink: list[Any]) -> list[float]:
    samples = []
    clock = time.perf_counter
    receive = channel.receive
    for message in messages:
        start = clock()
        receive(message)
        samples.append(clock() - start)
    if sink[-1]["kind"] != "result" or sink[-1]["value"] != 3:
        problem = f"the dispatcher did not answer 3: {sink[-1]!r}"
        raise AssertionError(problem)
    sink.clear()
    return samples


Make = Callable[[int, Action[Any]], dict[str, Any]]


def _measure(name: str, make: Make, sizes: Sizes, scenario: str) -> Row:
    actions = Registry()
    action = actions.add(Action(add, exported=True))
    sink: list[Any] = []
    channel = Channel(lambda reply, buffers: sink.append(reply), actions=actions, batch_replies=True)
    n = sizes.dispatcher_calls
    for _ in range(2):  # warm up (the schema is built on first use)
        _dispatched(channel, [make(i, action) for i in range(min(n, 200))], sink)
    runs: list[Latency] = []
    direct: list[float] = []
    for rep in range(sizes.repeats):
        messages = [make(i, action) for i in range(rep * n, (rep + 1) * n)]
        runs.append(Latency.of(_dispatched(channel, messages, sink)))
        direct.append(_direct_per_call(n * 20))
    ours = Latency.median_of(runs)
    base = statistics.median(direct)
    added = ours.p50 - base
    return Row(
        scenario,
        name,
        f"{fmt_latency(ours)} (+{fmt_seconds(added)})",
        f"direct call: {fmt_seconds(base)}",
        ours.p50 / base,
        f"<= {fmt_seconds(GOAL_ADDED)} added",
        added <= GOAL_ADDED,
    )


def _by_name(i: int, action: Action[Any]) -> dict[str, Any]:
    """As the server's bridge sends it: the exported action's name, JSON values."""
    return {"kind": "invoke", "id": f"r{i}", "name": action.name, "args": {"a": 1, "b": 2}}


def _form(i: int, action: Action[Any]) -> dict[str, Any]:
    """As a Form widget sends it: the action's id, the fields as strings."""
    return {"kind": "invoke", "id": f"r{i}", "action": action.id, "encoding": "form", "args": {"a": "1", "b": "2"}}


def run(bench: Bench) -> list[Row]:
    sizes = bench.sizes
    return [
        _measure("dispatcher: invoke add(a, b) by name, JSON args", _by_name, sizes, "1a"),
        _measure("dispatcher: invoke add(a, b) by id, form strings", _form, sizes, "1b"),
    ]
