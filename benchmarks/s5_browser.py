"""Scenario 5: a round trip in JupyterLab in Chromium, timed inside the page.

On one notebook page: a notebook-actions ``Form(add)`` (fill the fields, submit, wait for
the result in the DOM) and a stock ipywidgets ``Button`` whose click handler updates a
``Label`` (click, wait for the label's text to change). Each round trip is timed in the
page with ``performance.now()`` and a ``MutationObserver``, so Playwright's own round
trips add nothing. JupyterLab runs twice: with the extension's TCP_NODELAY setting on
kernel websockets on, and off (which is what stock jupyter-server does).
"""

from __future__ import annotations

import asyncio
import datetime
import json
import statistics
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tornado.websocket import websocket_connect

from tests._chromium import CHROMIUM, CHROMIUM_ARGS

from ._env import Bench, actions_cell
from ._kernel import WIDGET_ENVELOPE, connect, execute
from ._report import Row, unavailable
from ._servers import server_extension_available, start_jupyter
from ._stats import Latency, fmt_latency, fmt_seconds
from .s3_http import NO_SERVER
from .s4_concurrency import NO_WIDGETS, widgets_available

GOAL_P50 = 5e-3
#: The extension's setting (``c.NotebookActions.<name>``) for TCP_NODELAY on kernel websockets.
NODELAY_OPTION = "tcp_nodelay"

STOCK_CELL = """
import ipywidgets as W

_bench_clicks = 0
bench_label = W.Label(value="0")
bench_label.add_class("bench-stock-label")
bench_button = W.Button(description="stock button")
bench_button.add_class("bench-stock-button")

def _bench_on_click(_):
    global _bench_clicks
    _bench_clicks += 1
    bench_label.value = str(_bench_clicks)

bench_button.on_click(_bench_on_click)
W.VBox([bench_button, bench_label])
"""

FORM_CELL = """
from notebook_actions.widgets import Form
bench_form = Form(add)
bench_form.add_class("bench-form")
bench_form
"""

# Records when websocket frames leave and arrive, so that each round trip splits into
# time in the page before the first frame is sent, time until the last frame before the
# DOM changed arrives (server, kernel, network), and time in the page after it.
RECORD_FRAMES = """
(() => {
  const frames = [];
  const Native = window.WebSocket;
  class Recorded extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", () => frames.push(["recv", performance.now()]));
    }
    send(data) {
      frames.push(["send", performance.now()]);
      return super.send(data);
    }
  }
  window.WebSocket = Recorded;
  window.__benchSplit = (t0, t1) => {
    const inside = frames.filter(([, t]) => t >= t0 && t <= t1);
    frames.splice(0, frames.length);
    const sends = inside.filter(([kind]) => kind === "send").map(([, t]) => t);
    const recvs = inside.filter(([kind]) => kind === "recv").map(([, t]) => t);
    const sent = sends.length ? sends[0] : t0;
    const arrived = recvs.length ? recvs[recvs.length - 1] : t1;
    return { total: t1 - t0, before: sent - t0, wire: arrived - sent, after: t1 - arrived,
             received: recvs.length };
  };
})();
"""

# Click ``target`` and resolve with the split of the time until ``watched``'s text changes.
TIME_CLICK = """
async ([target, watched]) => {
  const button = document.querySelector(target);
  const node = document.querySelector(watched);
  if (!button || !node) throw new Error(`not on the page: ${target} / ${watched}`);
  const before = node.textContent;
  return await new Promise((resolve, reject) => {
    let t0 = 0;
    const timer = setTimeout(() => reject(new Error(`${watched} did not change within 30 s`)), 30000);
    const observer = new MutationObserver(() => {
      if (node.textContent !== before) {
        observer.disconnect(); clearTimeout(timer); resolve(window.__benchSplit(t0, performance.now()));
      }
    });
    observer.observe(node, {subtree: true, childList: true, characterData: true});
    t0 = performance.now();
    button.click();
  });
}
"""

# Fill the form's fields with new numbers, submit, and resolve with the split of the time
# until the result shown changes.
TIME_SUBMIT = """
async ([round]) => {
  const form = document.querySelector(".bench-form form");
  const result = document.querySelector(".bench-form .notebook-actions-result")
    || document.querySelector(".bench-form");
  if (!form) throw new Error("no form on the page");
  const set = (name, value) => {
    const input = form.querySelector(`[name="${name}"]`);
    input.value = String(value);
    input.dispatchEvent(new Event("input", {bubbles: true}));
  };
  set("a", round); set("b", 1);
  const before = result.textContent;
  return await new Promise((resolve, reject) => {
    let t0 = 0;
    const timer = setTimeout(() => reject(new Error(`no result ${round + 1} within 30 s`)), 30000);
    const observer = new MutationObserver(() => {
      if (result.textContent !== before && result.textContent.includes(String(round + 1))) {
        observer.disconnect(); clearTimeout(timer); resolve(window.__benchSplit(t0, performance.now()));
      }
    });
    observer.observe(result, {subtree: true, childList: true, characterData: true});
    t0 = performance.now();
    form.requestSubmit();
  });
}
"""


@dataclass(frozen=True)
class Split:
    """Medians, in seconds, of where a round trip's time went."""

    before: float  # in the page, from the click to the first websocket frame sent
    wire: float  # from that frame to the last frame received before the DOM changed
    after: float  # in the page, from that frame to the DOM change
    received: float  # frames received meanwhile

    def text(self) -> str:
        return (
            f"{fmt_seconds(self.before)} in the page before the websocket send, "
            f"{fmt_seconds(self.wire)} until the last frame back (server, kernel, loopback; "
            f"{self.received:.0f} frames received), {fmt_seconds(self.after)} in the page after it"
        )


@dataclass
class Timed:
    latency: Latency
    split: Split


@dataclass
class PageTimes:
    stock: Timed
    form: Timed | None
    # The same round trips from a Python websocket client on the same kernel: the share of
    # the server and the kernel, without the browser.
    socket_stock: Latency | None = None
    socket_form: Latency | None = None


IDS_CELL = "print(bench_button.comm.comm_id, bench_label.comm.comm_id{form})"


def _message(session: str, comm_id: str, data: dict[str, Any]) -> str:
    header = {
        "msg_id": uuid.uuid4().hex,
        "msg_type": "comm_msg",
        "session": session,
        "username": "bench",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "version": "5.3",
    }
    return json.dumps(
        {
            "header": header,
            "parent_header": {},
            "metadata": {},
            "channel": "shell",
            "content": {"comm_id": comm_id, "data": data},
            "buffers": [],
        }
    )


async def _socket_round_trips(url: str, ids: list[str], count: int) -> tuple[Latency, Latency | None]:
    """Click the Button (until the Label's update arrives) and submit the Form (until its
    result arrives) over the kernel's websocket, as the page does, without a browser."""
    ws = await websocket_connect(url)
    session = uuid.uuid4().hex
    button, label = ids[0], ids[1]

    async def until(check: Any) -> None:
        while True:
            raw = await ws.read_message()
            if isinstance(raw, str):
                msg = json.loads(raw)
                if msg.get("msg_type") == "comm_msg" and check(msg["content"]):
                    return

    async def timed(send: str, check: Any) -> float:
        t0 = time.perf_counter()
        await ws.write_message(send)
        await until(check)
        return time.perf_counter() - t0

    def label_update(content: dict[str, Any]) -> bool:
        return bool(content["comm_id"] == label and "value" in content["data"].get("state", {}))

    click = {"method": "custom", "content": {"event": "click"}}
    stock = [await timed(_message(session, button, click), label_update) for _ in range(count + 3)][3:]
    form = None
    if len(ids) == 4:
        form_id, action = ids[2], ids[3]
        samples = []
        for i in range(count + 3):
            rid = f"socket-{i}"
            invoke = {
                "kind": "invoke",
                "id": rid,
                "action": action,
                "encoding": "form",
                "args": {"a": str(i), "b": "1"},
            }
            data = {"method": "custom", "content": {WIDGET_ENVELOPE: invoke}}

            def answered(content: dict[str, Any], rid: str = rid) -> bool:
                reply = content["data"].get("content", {}).get(WIDGET_ENVELOPE, {})
                return bool(content["comm_id"] == form_id and reply.get("id") == rid)

            samples.append(await timed(_message(session, form_id, data), answered))
        form = Latency.of(samples[3:])
    ws.close()
    return Latency.of(stock), form


def write_notebook(path: Path, with_form: bool) -> None:
    sources = [STOCK_CELL.strip()]
    if with_form:
        sources += ["%load_ext notebook_actions", actions_cell(["add"]), FORM_CELL.strip()]
    cells: list[dict[str, Any]] = [
        {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}
        for source in sources
    ]
    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook = {"cells": cells, "metadata": {"kernelspec": kernelspec}, "nbformat": 4, "nbformat_minor": 4}
    path.write_text(json.dumps(notebook, indent=1))


def measure_page(bench: Bench, nodelay: bool | None, with_form: bool) -> PageTimes:
    """Start JupyterLab, open the notebook in Chromium, run it, time the clicks; stop all."""
    from playwright.sync_api import sync_playwright

    sizes = bench.sizes
    name = f"bench-{'on' if nodelay else 'off'}.ipynb"
    write_notebook(bench.workspace.notebooks / name, with_form)
    options = None if nodelay is None else {NODELAY_OPTION: nodelay}
    settings = bench.workspace.root / "lab-settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True, exist_ok=True)
    # Render every cell (no windowing), so the widgets exist in the DOM wherever they are.
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    bench.workspace.env["JUPYTERLAB_SETTINGS_DIR"] = str(settings.parent.parent)
    # A workspace of its own: a layout restored from the other run would open its notebook too.
    layouts = bench.workspace.root / f"lab-workspaces-{name}"
    lab = start_jupyter(
        bench.workspace,
        lab=True,
        extension=nodelay is not None,
        options=options,
        extra=(
            "--LabApp.expose_app_in_browser=True",
            f"--LabApp.workspaces_dir={layouts}",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ),
    )
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.add_init_script(RECORD_FRAMES)
                page.set_default_timeout(90_000)
                page.goto(f"http://127.0.0.1:{lab.port}/lab/tree/{name}?reset&token={lab.token}")
                try:
                    stock, form, kid = _drive(page, name, with_form, sizes.browser_clicks)
                except Exception as err:
                    shot = bench.workspace.root / "logs" / f"s5-failure-{name}.png"
                    page.screenshot(path=str(shot))
                    message = f"{err}\nin the page: {page.evaluate(PAGE_STATE, name)}"
                    raise RuntimeError(message) from err
            finally:
                browser.close()
        with connect(lab.connection_info(kid)) as kc:
            ids = execute(kc, IDS_CELL.format(form=", bench_form.comm.comm_id, add.id" if with_form else "")).split()
        url = f"ws://127.0.0.1:{lab.port}/api/kernels/{kid}/channels?token={lab.token}"
        socket_stock, socket_form = asyncio.run(_socket_round_trips(url, ids, sizes.browser_clicks))
    finally:
        lab.stop()
    return PageTimes(stock, form, socket_stock, socket_form)


# The notebook's panel, found by path (not "the current widget", which a dialog or a
# restored layout may take), and what its kernel is doing.
FIND_PANEL = """
(name) => {
  const app = window.jupyterapp;
  if (!app) return null;
  for (const w of app.shell.widgets("main")) {
    if (w.context && w.context.path === name) return w;
  }
  return null;
}
"""

PAGE_STATE = f"""
(name) => {{
  const panel = ({FIND_PANEL})(name);
  const kernel = panel && panel.sessionContext.session && panel.sessionContext.session.kernel;
  const titles = window.jupyterapp ? Array.from(window.jupyterapp.shell.widgets("main")).map((w) => w.title.label) : [];
  return JSON.stringify({{tabs: titles, panel: Boolean(panel), kernel: kernel ? kernel.status : null,
    connection: kernel ? kernel.connectionStatus : null,
    dialogs: Array.from(document.querySelectorAll(".jp-Dialog-header")).map((d) => d.textContent)}});
}}
"""

KERNEL_IDLE = f"""
(name) => {{
  const panel = ({FIND_PANEL})(name);
  const kernel = panel && panel.sessionContext.session && panel.sessionContext.session.kernel;
  return Boolean(kernel && kernel.connectionStatus === "connected" && kernel.status === "idle");
}}
"""

RUN_ALL = f"""
async (name) => {{
  const panel = ({FIND_PANEL})(name);
  window.jupyterapp.shell.activateById(panel.id);
  await window.jupyterapp.commands.execute("notebook:run-all-cells");
  return panel.sessionContext.session.kernel.id;
}}
"""


def _drive(page: Any, name: str, with_form: bool, count: int) -> tuple[Timed, Timed | None, str]:
    """Run the notebook, then time the Button's round trips and the Form's."""
    page.wait_for_function(KERNEL_IDLE, arg=name)
    kid: str = page.evaluate(RUN_ALL, name)
    page.wait_for_selector(".bench-stock-button", state="attached")
    stock = _times(page, TIME_CLICK, lambda _: [".bench-stock-button", ".bench-stock-label"], count)
    form = None
    if with_form:
        page.wait_for_selector(".bench-form form", state="attached")
        form = _times(page, TIME_SUBMIT, lambda i: [1000 + i], count)
    return stock, form, kid


def _times(page: Any, script: str, args: Any, count: int) -> Timed:
    for i in range(3):  # warm up
        page.evaluate(script, args(-1 - i))
    splits: list[dict[str, float]] = []
    for i in range(count):
        splits.append(page.evaluate(script, args(i)))
        page.wait_for_timeout(20)

    def median(key: str, scale: float = 1e-3) -> float:
        return statistics.median(float(s[key]) for s in splits) * scale

    split = Split(median("before"), median("wire"), median("after"), median("received", 1))
    return Timed(Latency.of([float(s["total"]) / 1e3 for s in splits]), split)


def _measure_page_twice(bench: Bench, nodelay: bool | None, with_form: bool, retried: list[str]) -> PageTimes:
    """A page that fails to come up (it happens on a loaded machine) gets one more try, said in the notes."""
    try:
        return measure_page(bench, nodelay, with_form)
    except Exception as err:
        retried.append(f"TCP_NODELAY {nodelay}: {str(err).splitlines()[0][:200]}")
        return measure_page(bench, nodelay, with_form)


def _split_note(label: str, timed: Timed, socket: Latency | None) -> str:
    alone = f" The same from a Python websocket client (no browser): p50 {fmt_seconds(socket.p50)}." if socket else ""
    return f"{label}, p50 split: {timed.split.text()}.{alone}"


def run(bench: Bench) -> list[Row]:
    smoke = bench.sizes.smoke
    goal = "p50 <= 5 ms" if not smoke else "-"
    name = "browser: Form submit -> result in DOM"
    with_form = widgets_available()
    server = server_extension_available()
    retried: list[str] = []
    if server:
        on = _measure_page_twice(bench, True, with_form, retried)
        off = _measure_page_twice(bench, False, with_form, retried) if not smoke else on
    else:
        # No extension: the stock server, which is what "TCP_NODELAY off" means.
        on = None
        off = _measure_page_twice(bench, None, with_form, retried)
    rows = []
    if on is not None and on.form is not None:
        form, stock = on.form.latency, on.stock.latency
        rows.append(
            Row(
                "5a",
                f"{name}, TCP_NODELAY on",
                fmt_latency(form),
                f"ipywidgets Button, same page: {fmt_latency(stock)}",
                form.p50 / stock.p50,
                goal,
                form.p50 <= GOAL_P50 if not smoke else None,
                _split_note("Form", on.form, on.socket_form) + " " + _split_note("Button", on.stock, on.socket_stock),
            )
        )
    else:
        baseline = f"ipywidgets Button, TCP_NODELAY on: {fmt_latency(on.stock.latency)}" if on is not None else "-"
        rows.append(
            unavailable("5a", f"{name}, TCP_NODELAY on", goal, NO_SERVER if on is None else NO_WIDGETS, baseline)
        )
    if off.form is not None:
        form, stock = off.form.latency, off.stock.latency
        rows.append(
            Row(
                "5b",
                f"{name}, TCP_NODELAY off" + ("" if server else " (stock server)"),
                fmt_latency(form),
                f"ipywidgets Button, same page: {fmt_latency(stock)}",
                form.p50 / stock.p50,
                "-",
                None,
                _split_note("Form", off.form, off.socket_form),
            )
        )
    else:
        rows.append(
            unavailable(
                "5b",
                f"{name}, TCP_NODELAY off",
                "-",
                NO_WIDGETS,
                f"ipywidgets Button, same page: {fmt_latency(off.stock.latency)}",
            )
        )
    if retried:
        rows[0].note = (f"The page was tried again after a failure ({'; '.join(retried)}). " + rows[0].note).strip()
    if on is not None:
        rows.append(
            Row(
                "5c",
                "browser: ipywidgets Button, TCP_NODELAY on (our setting)",
                fmt_latency(on.stock.latency),
                f"off (stock): {fmt_latency(off.stock.latency)}",
                on.stock.latency.p50 / off.stock.latency.p50,
                "-",
                None,
            )
        )
    return rows
