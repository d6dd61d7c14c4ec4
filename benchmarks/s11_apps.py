"""Scenario 11: app pages (issue 19) beside Voila 0.5, on the same small notebook
(benchmarks/app_page.ipynb: a ``Form`` and an ``ActionButton``).

a. Page load until the widgets are live, in Chromium: ``jupyter notebook-actions serve
   --kernels=2`` vs Voila cold (a kernel started and the notebook run per page load).
b. The same vs Voila with ``preheat_kernel`` and a pool of 2.
c. Many visitors at once (HTTP page loads, and a form submit each on ours): total resident
   memory of the server and its kernels, after them vs after one visitor, ours and Voila's.
   Voila's form submit needs the widget's comm over its kernel websocket, which an HTTP load
   client does not open: its visitors only load the page (which is what starts its kernels).
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import shutil
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil  # type: ignore[import-untyped]

from tests._chromium import CHROMIUM, CHROMIUM_ARGS

from ._env import Bench
from ._procs import Process, free_port, wait_until
from ._report import Row, unavailable
from ._servers import HOST, serve_argv
from ._stats import Latency, fmt_latency, fmt_seconds
from .s5_browser import RECORD_FRAMES, TIME_SUBMIT, _times, measure_page, write_notebook

#: Scenario 5's timed submit, on the app page's Form (the page has no widget classes).
TIME_APP_SUBMIT = TIME_SUBMIT.replace(".bench-form", ".na-form-widget")
SUBMIT_NOTEBOOK = "submit_bench.ipynb"

APP = Path(__file__).with_name("app_page.ipynb")
NOTEBOOK = APP.name
LIVE_SECONDS = 120
#: Ours: the loader marks the page idle once every widget is live; Voila: the Form's element.
OURS_LIVE = ".na-app[aria-busy='false'] .na-form-widget form"
VOILA_LIVE = ".na-form-widget form"


class App:
    """A server of the app page: ours or Voila's, with its page's URL (token included)."""

    def __init__(self, name: str, process: Process, port: int, token: str, page: str) -> None:
        self.name, self.process, self.port, self.token = name, process, port, token
        self.page = f"http://{HOST}:{port}/{page}?token={token}"

    def rss(self) -> int:
        """Resident bytes of the server and every process under it (its kernels)."""
        root = psutil.Process(self.process.pid)
        total = 0
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):  # a process that just ended
                total += proc.memory_info().rss
        return total

    def get(self, url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> bytes:
        request = urllib.request.Request(url, data=body, headers={"Accept": "text/html", **(headers or {})})
        with urllib.request.urlopen(request, timeout=LIVE_SECONDS) as reply:
            return bytes(reply.read())


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=30) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def start_ours(bench: Bench, kernels: int = 2, notebook: str = NOTEBOOK) -> App:
    port, token = free_port(), secrets.token_hex(24)
    argv = serve_argv(bench.workspace, notebook, port, token, f"--kernels={kernels}")
    process = bench.workspace.start("serve-app", argv)
    app = App("ours", process, port, token, f"notebook-actions/apps/{notebook}")
    wait_until(lambda: _answers(app.page), "the app page to answer", 120, process)
    return app


def start_voila(bench: Bench, *, preheat: bool) -> App:
    port, token = free_port(), secrets.token_hex(24)
    argv = [
        str(Path(sys.executable).with_name("voila")),
        NOTEBOOK,
        "--no-browser",
        f"--port={port}",
        f"--Voila.ip={HOST}",
        f"--token={token}",
        "--Voila.log_level=WARN",
        *(["--preheat_kernel=True", "--pool_size=2"] if preheat else []),
    ]
    process = bench.workspace.start("voila-preheat" if preheat else "voila", argv)
    app = App("voila", process, port, token, "")
    wait_until(lambda: _answers(app.page), "Voila to answer", 120, process)
    if preheat:
        time.sleep(10)  # its pool's kernels start and run the notebook after it answers
    return app


def time_to_live(app: App, selector: str, loads: int) -> float:
    """Median seconds from navigation to the Form being live, each load in a fresh context."""
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            for _ in range(loads):
                context = browser.new_context()
                page = context.new_page()
                started = time.perf_counter()
                page.goto(app.page)
                page.wait_for_selector(selector, state="visible", timeout=LIVE_SECONDS * 1000)
                times.append(time.perf_counter() - started)
                context.close()
        finally:
            browser.close()
    return sorted(times)[len(times) // 2]


def app_submits(bench: Bench) -> Latency:
    """Scenario 5's Form submit -> result in the DOM, on the app page of scenario 5's notebook."""
    from playwright.sync_api import sync_playwright

    write_notebook(bench.workspace.notebooks / SUBMIT_NOTEBOOK, with_form=True)
    app = start_ours(bench, kernels=1, notebook=SUBMIT_NOTEBOOK)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.add_init_script(RECORD_FRAMES)
                page.goto(app.page)
                page.wait_for_selector(OURS_LIVE, state="visible", timeout=LIVE_SECONDS * 1000)
                return _times(page, TIME_APP_SUBMIT, lambda i: [1000 + i], bench.sizes.browser_clicks).latency
            finally:
                browser.close()
    finally:
        bench.workspace.stop(app.process)


def _form_call(app: App, page: str) -> tuple[str, str]:
    """The Form's call URL and the body a visitor's submit sends."""
    found = re.search(r'<script id="notebook-actions-app" type="application/json">(.*?)</script>', page, re.DOTALL)
    if not found:
        message = "the app page has no widget config"
        raise AssertionError(message)
    config = json.loads(found.group(1))
    form = next(m["state"] for m in config["models"].values() if m["state"].get("action", {}).get("name") == "add")
    return f"http://{HOST}:{app.port}{config['invoke_url']}{form['action']['id']}", json.dumps({"a": 1, "b": 2})


def visit(app: App, submit: bool) -> None:
    """One visitor: the page over HTTP, then (ours) its form's submit."""
    auth = {"Authorization": f"token {app.token}"}
    page = app.get(app.page, headers=auth).decode()
    if submit:
        url, body = _form_call(app, page)
        answer = json.loads(app.get(url, body.encode(), {**auth, "Content-Type": "application/json"}))
        if answer != {"value": 3}:
            message = f"the form's submit answered {answer!r}"
            raise AssertionError(message)


def memory_after(app: App, visitors: int, submit: bool) -> tuple[int, int]:
    """Resident bytes after one visitor, then after ``visitors`` at once."""
    visit(app, submit)
    time.sleep(1)
    one = app.rss()
    with ThreadPoolExecutor(visitors) as pool:
        list(pool.map(lambda _: visit(app, submit), range(visitors)))
    time.sleep(1)
    return one, app.rss()


def _mib(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"


def run(bench: Bench) -> list[Row]:
    if shutil.which("voila", path=str(Path(sys.executable).parent)) is None:
        return [unavailable("11a", "app page load until live", "<= 0.2x", "voila is not installed")]
    shutil.copy(APP, bench.workspace.notebooks / NOTEBOOK)
    smoke = bench.sizes.smoke
    loads = 1 if smoke else 5
    visitors = 3 if smoke else 50
    rows: list[Row] = []

    ours = start_ours(bench)
    try:
        ours_live = time_to_live(ours, OURS_LIVE, loads)
        ours_one, ours_many = memory_after(ours, visitors, submit=True)
    finally:
        bench.workspace.stop(ours.process)

    cold = start_voila(bench, preheat=False)
    try:
        cold_live = time_to_live(cold, VOILA_LIVE, loads)
        cold_one, cold_many = memory_after(cold, visitors, submit=False)
    finally:
        bench.workspace.stop(cold.process)

    warm = start_voila(bench, preheat=True)
    try:
        warm_live = time_to_live(warm, VOILA_LIVE, min(loads, 2))  # its pool of 2 serves two loads warm
    finally:
        bench.workspace.stop(warm.process)

    note = f"median of {loads} loads in fresh Chromium contexts, until the Form is live"
    rows.append(
        Row(
            "11a",
            "app page load until live vs Voila cold",
            fmt_seconds(ours_live),
            f"Voila: {fmt_seconds(cold_live)}",
            ours_live / cold_live,
            "<= 0.2x",
            ours_live / cold_live <= 0.2,
            note,
        )
    )
    rows.append(
        Row(
            "11b",
            "app page load until live vs Voila preheated (pool of 2)",
            fmt_seconds(ours_live),
            f"Voila preheated: {fmt_seconds(warm_live)}",
            ours_live / warm_live,
            "<= 1.0x",
            ours_live / warm_live <= 1.0,
            "Voila's first two loads (its pool of 2)",
        )
    )
    rows.append(
        Row(
            "11c",
            f"memory after {visitors} visitors at once vs after 1 (ours, pool of 2)",
            f"{_mib(ours_many)} (1 visitor: {_mib(ours_one)})",
            f"Voila: {_mib(cold_many)} (1 visitor: {_mib(cold_one)})",
            ours_many / ours_one,
            "<= 1.2x",
            ours_many / ours_one <= 1.2,
            f"server + kernels' RSS; ours: page load + form submit each; Voila grew {cold_many / cold_one:.1f}x "
            "(page loads only: its form needs the kernel websocket)",
        )
    )
    rows.append(
        Row(
            "11d",
            f"memory after {visitors} visitors, ours vs Voila",
            _mib(ours_many),
            f"Voila: {_mib(cold_many)}",
            ours_many / cold_many,
            "< 1.0x",
            ours_many < cold_many,
            "server + kernels' RSS",
        )
    )
    on_page = app_submits(bench)
    in_lab = measure_page(bench, nodelay=True, with_form=True).form
    if in_lab is None:
        rows.append(unavailable("11e", "Form submit -> result, app page vs JupyterLab", "<= 1.0x", "no widgets"))
        return rows
    rows.append(
        Row(
            "11e",
            "Form submit -> result in DOM, app page vs JupyterLab",
            fmt_latency(on_page),
            f"JupyterLab (scenario 5a's page): {fmt_latency(in_lab.latency)}",
            on_page.p50 / in_lab.latency.p50,
            "<= 1.0x",
            on_page.p50 <= in_lab.latency.p50,
            "scenario 5's notebook and timed submit; the app page over HTTP to a served pool of 1",
        )
    )
    return rows
