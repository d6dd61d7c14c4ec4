"""Scenario 5: a round trip in JupyterLab in Chromium, timed inside the page.

On one notebook page: a notebook-actions ``Form(add)`` (fill the fields, submit, wait for
the result in the DOM) and a stock ipywidgets ``Button`` whose click handler updates a
``Label`` (click, wait for the label's text to change). Each round trip is timed in the
page with ``performance.now()`` and a ``MutationObserver``, so Playwright's own round
trips add nothing. JupyterLab runs twice: with the extension's TCP_NODELAY setting on
kernel websockets on, and off (which is what stock jupyter-server does).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from ._env import Bench, actions_cell
from ._report import Row, unavailable
from ._servers import server_extension_available, start_jupyter
from ._stats import Latency, fmt_latency
from .s3_http import NO_SERVER
from .s4_concurrency import NO_WIDGETS, widgets_available

GOAL_P50 = 5e-3
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
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

# Click ``target`` and resolve with the milliseconds until ``watched``'s text changes.
TIME_CLICK = """
async ([target, watched]) => {
  const button = document.querySelector(target);
  const node = document.querySelector(watched);
  if (!button || !node) throw new Error(`not on the page: ${target} / ${watched}`);
  const before = node.textContent;
  return await new Promise((resolve) => {
    let t0 = 0;
    const observer = new MutationObserver(() => {
      if (node.textContent !== before) { observer.disconnect(); resolve(performance.now() - t0); }
    });
    observer.observe(node, {subtree: true, childList: true, characterData: true});
    t0 = performance.now();
    button.click();
  });
}
"""

# Fill the form's fields with new numbers, submit, and resolve with the milliseconds until
# the result shown changes.
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
  return await new Promise((resolve) => {
    let t0 = 0;
    const observer = new MutationObserver(() => {
      if (result.textContent !== before && result.textContent.includes(String(round + 1))) {
        observer.disconnect(); resolve(performance.now() - t0);
      }
    });
    observer.observe(result, {subtree: true, childList: true, characterData: true});
    t0 = performance.now();
    form.requestSubmit();
  });
}
"""


@dataclass
class PageTimes:
    stock: Latency
    form: Latency | None


def write_notebook(path: Path, with_form: bool) -> None:
    cells = [nbformat.v4.new_code_cell(STOCK_CELL.strip())]
    if with_form:
        cells.append(nbformat.v4.new_code_cell("%load_ext notebook_actions"))
        cells.append(nbformat.v4.new_code_cell(actions_cell(["add"])))
        cells.append(nbformat.v4.new_code_cell(FORM_CELL.strip()))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))


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
    lab = start_jupyter(bench.workspace, lab=True, extension=nodelay is not None, options=options,
                        extra=("--LabApp.expose_app_in_browser=True",
                               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.set_default_timeout(90_000)
                page.goto(f"http://127.0.0.1:{lab.port}/lab/tree/{name}?token={lab.token}")
                page.wait_for_function("() => window.jupyterapp && document.querySelector('.jp-Notebook')")
                page.wait_for_function("""() => {
                    const w = window.jupyterapp.shell.currentWidget;
                    return w && w.sessionContext && w.sessionContext.session
                        && w.sessionContext.session.kernel
                        && w.sessionContext.session.kernel.connectionStatus === 'connected'
                        && w.sessionContext.session.kernel.status === 'idle';
                }""")
                page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
                try:
                    page.wait_for_selector(".bench-stock-button", state="attached")
                except Exception:
                    page.screenshot(path=str(bench.workspace.root / "logs" / "s5-failure.png"))
                    raise
                clicks = [".bench-stock-button", ".bench-stock-label"]
                stock = _times(page, TIME_CLICK, lambda _: clicks, sizes.browser_clicks)
                form = None
                if with_form:
                    page.wait_for_selector(".bench-form form", state="attached")
                    form = _times(page, TIME_SUBMIT, lambda i: [1000 + i], sizes.browser_clicks)
            finally:
                browser.close()
    finally:
        lab.stop()
    return PageTimes(stock, form)


def _times(page: Any, script: str, args: Any, count: int) -> Latency:
    for i in range(3):  # warm up
        page.evaluate(script, args(-1 - i))
    samples = []
    for i in range(count):
        samples.append(float(page.evaluate(script, args(i))) / 1e3)
        page.wait_for_timeout(20)
    return Latency.of(samples)


def run(bench: Bench) -> list[Row]:
    smoke = bench.sizes.smoke
    goal = "p50 <= 5 ms" if not smoke else "-"
    name = "browser: Form submit -> result in DOM"
    with_form = widgets_available()
    server = server_extension_available()
    if server:
        on = measure_page(bench, True, with_form)
        off = measure_page(bench, False, with_form) if not smoke else on
    else:
        # No extension: the stock server, which is what "TCP_NODELAY off" means.
        on = None
        off = measure_page(bench, None, with_form)
    rows = []
    if on is not None and on.form is not None:
        rows.append(Row("5a", f"{name}, TCP_NODELAY on", fmt_latency(on.form),
                        f"ipywidgets Button, same page: {fmt_latency(on.stock)}",
                        on.form.p50 / on.stock.p50, goal, on.form.p50 <= GOAL_P50 if not smoke else None))
    else:
        baseline = f"ipywidgets Button, TCP_NODELAY on: {fmt_latency(on.stock)}" if on is not None else "-"
        rows.append(unavailable("5a", f"{name}, TCP_NODELAY on", goal,
                                NO_SERVER if on is None else NO_WIDGETS, baseline))
    if off.form is not None:
        rows.append(Row("5b", f"{name}, TCP_NODELAY off" + ("" if server else " (stock server)"),
                        fmt_latency(off.form), f"ipywidgets Button, same page: {fmt_latency(off.stock)}",
                        off.form.p50 / off.stock.p50, "-", None))
    else:
        rows.append(unavailable("5b", f"{name}, TCP_NODELAY off", "-", NO_WIDGETS,
                                f"ipywidgets Button, same page: {fmt_latency(off.stock)}"))
    if on is not None:
        rows.append(Row("5c", "browser: ipywidgets Button, TCP_NODELAY on (our setting)",
                        fmt_latency(on.stock), f"off (stock): {fmt_latency(off.stock)}",
                        on.stock.p50 / off.stock.p50, "-", None))
    return rows
