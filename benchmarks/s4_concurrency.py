"""Scenario 4: many concurrent calls of an async action that sleeps.

Over HTTP: every call on its own connection, all sent at once, vs Kernel Gateway's
notebook-http serving the same sleep (which runs them one at a time). Over the widget
path: invoke messages sent at once on a ``Form(nap, concurrent=True)``'s comm as anywidget
custom messages, vs
the same calls on the kernel comm the server's bridge uses (no widget in between).
"""

from __future__ import annotations

import asyncio
import json
import time

from jupyter_client.blocking.client import BlockingKernelClient

from ._env import Bench, actions_cell, json_post
from ._kernel import Comm, WidgetComm, execute, local_kernel, open_actions_comm, wait_results
from ._load import burst
from ._report import Row, unavailable
from ._servers import HOST, Server, server_extension_available
from ._stats import fmt_seconds
from .s3_http import NO_SERVER

GOAL_SECONDS = 0.5

NO_WIDGETS = "the widgets (notebook_actions/widgets) have not landed: nothing to measure"


def widgets_available() -> bool:
    try:
        from notebook_actions import widgets
    except ImportError:
        return False
    return hasattr(widgets, "Form")


def _http_burst(bench: Bench, server: Server, path: str) -> float:
    sizes = bench.sizes
    request = json_post([path], server, {"seconds": sizes.sleep})
    raws = [request.raw(HOST, server.port) for _ in range(sizes.concurrent)]
    wall, answers = asyncio.run(burst(HOST, server.port, raws))
    for status, body in answers:
        if status != 200 or json.loads(body) != {"value": sizes.sleep}:
            message = f"{server.name} answered {status} {body[:200]!r} to {path}"
            raise AssertionError(message)
    return wall


def _comm_burst(comm: Comm, action: dict[str, str], bench: Bench) -> float:
    sizes = bench.sizes
    ids = {f"c{i}-{time.monotonic_ns()}" for i in range(sizes.concurrent)}
    t0 = time.perf_counter()
    for rid in ids:
        comm.send({"kind": "invoke", "id": rid, **action, "args": {"seconds": sizes.sleep}})
    values = wait_results(comm, ids)
    wall = time.perf_counter() - t0
    assert set(values.values()) == {sizes.sleep}, values
    return wall


def widget_cell(action: str, **options: object) -> str:
    """Code that makes a Form for ``action`` and prints its comm's id and the action's id."""
    given = "".join(f", {k}={v!r}" for k, v in options.items())
    return (
        f"from notebook_actions.widgets import Form\n_bench_form = Form({action}{given})\n"
        f"print(_bench_form.comm.comm_id, {action}.id)"
    )


def _widget_burst(kc: BlockingKernelClient, bench: Bench) -> float:
    # A form runs one submit at a time unless told otherwise; these calls are meant to overlap.
    comm_id, action_id = execute(kc, widget_cell("nap", concurrent=True)).split()
    widget = WidgetComm(kc, "", comm_id=comm_id)
    _comm_burst(widget, {"action": action_id}, bench)  # warm up
    return _comm_burst(widget, {"action": action_id}, bench)


def run(bench: Bench) -> list[Row]:
    sizes = bench.sizes
    n, sleep = sizes.concurrent, fmt_seconds(sizes.sleep)
    goal = f"<= {fmt_seconds(GOAL_SECONDS)}" if not sizes.smoke else "-"
    rows = []

    gateway = bench.kernel_gateway()
    kg_wall = _http_burst(bench, gateway, "/nap")
    name = f"HTTP: {n} concurrent calls of nap({sleep})"
    if server_extension_available():
        server = bench.jupyter()
        path = server.path(f"notebook-actions/api/kernels/{bench.kernels(1)[0]}/actions/nap")
        _http_burst(bench, server, path)  # warm up: connections, the bridge
        wall = _http_burst(bench, server, path)
        rows.append(
            Row(
                "4a",
                name,
                fmt_seconds(wall),
                f"Kernel Gateway: {fmt_seconds(kg_wall)}",
                wall / kg_wall,
                goal,
                wall <= GOAL_SECONDS if not sizes.smoke else None,
            )
        )
    else:
        rows.append(unavailable("4a", name, goal, NO_SERVER, f"Kernel Gateway: {fmt_seconds(kg_wall)}"))

    name = f"widget custom messages: {n} concurrent nap({sleep})"
    with local_kernel(bench.workspace.env, bench.workspace.log("kernel-s4")) as (_, kc):
        execute(kc, "%load_ext notebook_actions")
        execute(kc, actions_cell(["add"]))
        actions = open_actions_comm(kc)
        _comm_burst(actions, {"name": "nap"}, bench)  # warm up
        comm_wall = _comm_burst(actions, {"name": "nap"}, bench)
        baseline = f"kernel comm, no widget: {fmt_seconds(comm_wall)}"
        if widgets_available():
            wall = _widget_burst(kc, bench)
            rows.append(
                Row(
                    "4b",
                    name,
                    fmt_seconds(wall),
                    baseline,
                    wall / comm_wall,
                    goal,
                    wall <= GOAL_SECONDS if not sizes.smoke else None,
                )
            )
        else:
            rows.append(unavailable("4b", name, goal, NO_WIDGETS, baseline))
    return rows
