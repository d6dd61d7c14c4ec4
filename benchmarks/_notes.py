"""Profile notes for RESULTS.md: why a goal is missed, as found by profiling.

Written by hand after profiling (pyinstrument on the server, ``python -m benchmarks
--profile-server http|upload``; a Chromium trace and the page's JS CPU profile for the
browser), keyed by row; a run prints only the notes of the rows whose goal it missed.
The figures that change from run to run are in each row's own note (the splits), not here.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._report import Row

_HTTP_FLOORS = """\
The p50 is two floors plus a little: jupyter-server's own HTTP floor (GET /api, 0.45-0.7 ms
in our runs) and the kernel's comm round trip (1.5-2.2 ms, the same as a bare comm echo in
scenario 2: it is ipykernel's cost per shell message, which publishes busy, the reply and
idle on iopub). The split in the row's note gives this run's three parts; the rest, ours,
moves most with other work on the machine (0.1-1.8 ms in our runs). With the two floors at
about 2 ms on this machine, the goal leaves no room for the bridge.

pyinstrument on the server at one connection (`--profile-server http`), share of the
server's busy time: 55% is what any jupyter-server handler pays and GET /api pays too
(tornado parsing the request 18%, `prepare` with token auth in the identity provider 15%,
writing the response 14%, the rest small); 16% is jupyter-server's activity tracker
(`record_activity`), which deserializes every iopub message of every kernel, three per
request; 23% is the extension (sending the comm message with `Session.send` 9%, reading
and decoding iopub 9%, the handler itself 5%). The CPU time per request that the row's note
gives (server and kernel: 1.8-2.8 ms and 1.4-2.3 ms at one connection in our runs) shows
both processes at work on two cores shared with the load generator.

What would move it, outside benchmarks/: fewer iopub messages per request (ipykernel
publishes busy/idle around every comm message; the bridge already filters its own iopub by
topic, but jupyter-server's tracker still decodes them all), and the loopback TCP transport
between server and kernel (ipc would save a little). The 16-connection figure is where
batching pays: the same bridge reached 1,250-1,450 requests/s in our runs."""

_BROWSER = """\
Most of the round trip is spent in the browser, not in the server or the kernel: the row's
note shows the same Form round trip from a Python websocket client on the same kernel at
2-4 ms, while the page waits 8-20 ms between sending its websocket frame and the last frame
back arriving. A Chromium trace over 20 submits (categories devtools.timeline, toplevel)
shows the renderer's main thread busy for 12 of those 13 ms (median): the frames have
arrived, but their message events wait for the main thread. The page's JS CPU profile puts
most of that in Chromium's own work ("(program)": style, layout and paint of the JupyterLab
page, software-rendered under --disable-gpu) and 2-4 ms in JupyterLab's and the widget
manager's JS (kernel message deserialization, a deep `eq` in the widget manager's chunk);
the Form's own functions (form.js, ui.js) take under 0.3 ms.

One cause is ours: the Form's pending spinner (`.na-spinner`, a CSS animation in ui.css)
makes Chromium repaint every frame while a call is pending. With animations switched off
by an injected style, the same Form measured 8.5-11.5 ms instead of 10-22 ms, and the stock
Button 6-10 ms instead of 10-12 ms (noisy: other work on the machine). Showing the spinner
only once a call has taken some time (say 100 ms) would take that cost off fast calls. The
stock Button, with no spinner, measured 7-14 ms on this machine with TCP_NODELAY in our runs
(the anchor: 10 ms), so 5 ms is below what JupyterLab itself allows here for any widget
round trip."""

_WIDGET_CONCURRENCY = """\
The widget path answers each call with its own iopub message: a widget's Channel is made
without `batch_replies` (notebook_actions/widgets/_base.py), so 100 calls finishing in the
same turn of the kernel's loop leave as 100 comm messages, each published, signed and
decoded on the way to the browser, where the kernel comm target sends them as one batch.
The baseline (the kernel comm, same calls, replies batched) shows the difference."""

_HTTP_RATE = """\
At 16 connections the server process is CPU-bound: the profile at one connection above
applies per request, with batching taking the kernel's part down to one comm message per
turn of the loop. On this 2-core machine the load generator, the server and the kernel share
two cores, and other work on the machine takes from them too (GET /api, the ceiling
measured in the same run, moves with it)."""

_SERVED_POOL = """\
The action is 20 ms of pure Python, so the rate is set by CPU, not by the transport: one
kernel does at most 50 calls/s (40-45 measured, the action running a little slower than
20 ms beside the server and the load generator), and this machine's 2 cores, shared by the
kernels, the server and the load generator, cap any pool below 100 calls/s, however many
kernels it has. Kernel Gateway runs the same action in as many kernels and is capped the same
way; on top it pays its own cost per call (an execute_request and a cell's worth of iopub,
about 9 ms p50 for a trivial endpoint in 3a). 5x Kernel Gateway would need it below 10
calls/s per kernel, which the action alone rules out: with the action dominating, the ratio
is (action + Kernel Gateway's cost) / (action + ours), 1.3-1.5x here. The goal was set from
the trivial-action rates of 3c and 7d, where our transport is 12-17x Kernel Gateway's.
The pool's growth is the other half: each row's note gives its rate against the 1-kernel
pool's in another round (1.78x with 2 kernels in this run, at the goal's 1.7x); a third and
fourth kernel on 2 cores only share the same two."""

NOTES: dict[str, tuple[str, str]] = {
    "3a": ("3a HTTP invoke, one connection: p50 above 2 ms", _HTTP_FLOORS),
    "3c": ("3c HTTP invoke, 16 connections: below the rate goal", _HTTP_RATE),
    "4b": ("4b widget path, 100 concurrent calls: over 0.5 s", _WIDGET_CONCURRENCY),
    "5a": ("5a browser round trip: Form p50 above 5 ms", _BROWSER),
    "9a": ("9a-9c served pools, a CPU-bound action: below 5x Kernel Gateway", _SERVED_POOL),
    "9b": ("9b served pool of 2 kernels: below 5x Kernel Gateway", "See 9a-9c above."),
    "9c": ("9c served pool of 4 kernels: below 5x Kernel Gateway", "See 9a-9c above."),
}


def profile_notes(rows: Sequence[Row]) -> list[tuple[str, str]]:
    missed = [row for row in rows if row.met is False]
    out = []
    for row in missed:
        title, text = NOTES.get(row.scenario, (f"{row.scenario} {row.name}", ""))
        out.append((title, text or "Goal missed in this run; no profile note written for it yet."))
    return out
