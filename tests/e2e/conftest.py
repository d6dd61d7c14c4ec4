"""Fixtures for the browser tests: real servers (JupyterLab, Notebook 7, Voila) and real Chromium.

One server of each kind (and one Chromium) per run of this package, started the first time
a test needs it and stopped after the package's last test, so that the rest of a full
``pytest`` run does not share the machine with them. Each test gets a fresh browser context
and page, leaves a screenshot under ``test-output/<test name>.png``, and its kernels are
shut down after it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, Response, expect, sync_playwright

from .._chromium import CHROMIUM, CHROMIUM_ARGS
from . import _servers
from ._jupyter import WAIT_MS, Jupyter, screenshot
from ._servers import API_KEY, Server

OFF_HOST = re.compile(r"^(?!https?://127\.0\.0\.1[:/]|data:|blob:)")

STOCK_WIDGETS = """\
import ipywidgets as widgets

label = widgets.Label("not clicked", layout={"width": "auto"})
label.add_class("e2e-label")
button = widgets.Button(description="Click me")
button.add_class("e2e-button")
clicks = 0


def on_click(_):
    global clicks
    clicks += 1
    label.value = f"clicked {clicks} times"


button.on_click(on_click)
%load_ext notebook_actions
widgets.VBox([button, label])
"""
# Ours beside the stock ones on the same page: both kinds of custom message, no crossing.
ACTION_WIDGET = """\
from notebook_actions import ActionButton


def count_clicks() -> str:
    "use server"
    return f"action saw {clicks} stock clicks"


ActionButton(count_clicks, label="Ask the action")
"""
STOCK_NOTEBOOK = {
    "nbformat": 4,
    "nbformat_minor": 5,
    "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
    "cells": [
        {
            "cell_type": "code",
            "id": "stock-widgets",
            "metadata": {},
            "execution_count": None,
            "outputs": [],
            "source": STOCK_WIDGETS,
        },
        {
            "cell_type": "code",
            "id": "action-widget",
            "metadata": {},
            "execution_count": None,
            "outputs": [],
            "source": ACTION_WIDGET,
        },
    ],
}


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        message = (
            f"{CHROMIUM} is missing, so the browser tests cannot run: install Debian's chromium "
            "(`apt-get install chromium`); `playwright install` cannot download a browser here"
        )
        pytest.fail(message, pytrace=False)
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    expect.set_options(timeout=WAIT_MS)
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=False)
    context.set_default_timeout(WAIT_MS)
    # Loopback only: what the page would fetch from elsewhere (Voila's CDN fonts) is refused at once.
    context.route(OFF_HOST, lambda route: route.abort("blockedbyclient"))
    page = context.new_page()
    # What went wrong in the page, printed with a failing test's output.
    problems: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(f"console: {message.text}")

    def response(reply: Response) -> None:
        if reply.status >= 400:
            problems.append(f"{reply.status} {reply.url}")

    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", console)
    page.on("response", response)
    page.on("requestfailed", lambda request: problems.append(f"failed: {request.url} {request.failure}"))
    yield page
    if not page.is_closed():
        screenshot(page, request.node.name)
    context.close()
    if problems:
        print("\n".join(["browser problems during the test:", *problems]))


def _server(kind: str, tmp_path_factory: pytest.TempPathFactory, args: list[str], **env: str) -> Iterator[Server]:
    server = _servers.start(kind, tmp_path_factory.mktemp(kind), args, env)
    try:
        if kind != "voila":
            (server.root / "stock_widgets.ipynb").write_text(json.dumps(STOCK_NOTEBOOK))
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="package")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from _server("lab", tmp_path_factory, ["--LabApp.expose_app_in_browser=True"], WEATHER_API_KEY=API_KEY)


@pytest.fixture(scope="package")
def notebook_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from _server("notebook", tmp_path_factory, ["--JupyterNotebookApp.expose_app_in_browser=True"])


@pytest.fixture(scope="package")
def voila_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from _server("voila", tmp_path_factory, ["todo_app.ipynb"])


def _jupyter(page: Page, server: Server, request: pytest.FixtureRequest, ui: str) -> Iterator[Jupyter]:
    yield Jupyter(page, server, ui)
    if not page.is_closed():
        screenshot(page, request.node.name)
        page.context.close()
    server.shutdown_kernels()


@pytest.fixture
def lab(page: Page, lab_server: Server, request: pytest.FixtureRequest) -> Iterator[Jupyter]:
    """JupyterLab in a fresh page; the kernels the test started are shut down after it."""
    yield from _jupyter(page, lab_server, request, "lab")


@pytest.fixture
def notebook7(page: Page, notebook_server: Server, request: pytest.FixtureRequest) -> Iterator[Jupyter]:
    """Notebook 7 in a fresh page; the kernels the test started are shut down after it."""
    yield from _jupyter(page, notebook_server, request, "notebook")
