"""Drive a notebook in JupyterLab or Notebook 7 the way a person would, through the real UI.

Both front ends are started with ``expose_app_in_browser``, so ``window.jupyterapp`` is the
running application: the tests wait on its kernel and cell models rather than on sleeps.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page

from ._servers import REPO, Server
from ._widgets import Form

# Generous: the machine has 2 cores shared with other test runs. Every wait is on a condition.
WAIT_MS = 60_000
RUN_ALL_MS = 180_000  # run-all of a whole notebook, on a slow machine

# The current notebook panel's kernel is connected and idle.
KERNEL_IDLE = """() => {
  const panel = window.jupyterapp?.shell?.currentWidget;
  const kernel = panel?.sessionContext?.session?.kernel;
  return Boolean(panel?.context?.isReady && kernel && kernel.connectionStatus === "connected"
    && kernel.status === "idle");
}"""

# Notes when the current notebook's kernel goes through a restart.
WATCH_RESTART = """() => {
  window.__e2eRestarted = false;
  const context = window.jupyterapp.shell.currentWidget.sessionContext;
  context.statusChanged.connect((_, status) => {
    if (status === "restarting" || status === "autorestarting") window.__e2eRestarted = true;
  });
}"""

# Every code cell ran, and none is running.
ALL_RAN = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  return panel.content.widgets.every((cell) => cell.model.type !== "code"
    || (cell.model.executionCount !== null && cell.model.executionState !== "running"));
}"""

# Start "Run All Cells"; its promise settles when every cell has run (or one failed).
RUN_ALL = """() => {
  const state = { done: false, error: null };
  window.__e2eRunAll = state;
  window.jupyterapp.commands.execute("notebook:run-all-cells").then(
    () => { state.done = true; },
    (error) => { state.error = String(error); state.done = true; },
  );
}"""

ERRORS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const errors = [];
  panel.content.widgets.forEach((cell, index) => {
    if (cell.model.type !== "code") return;
    for (const output of cell.model.outputs.toJSON()) {
      if (output.output_type === "error") {
        errors.push(`cell ${index}: ${output.ename}: ${output.evalue}\\n${output.traceback.join("\\n")}`);
      }
    }
  });
  return errors;
}"""

ANSI = re.compile(r"\x1b\[[0-9;]*m")
OUTPUT = REPO / "test-output"


def screenshot(page: Page, name: str) -> Path:
    """Save what the page shows now as test-output/<name>.png."""
    target = OUTPUT / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target))
    return target


class Jupyter:
    """One page of JupyterLab (``ui="lab"``) or Notebook 7 (``ui="notebook"``)."""

    def __init__(self, page: Page, server: Server, ui: str) -> None:
        self.page = page
        self.server = server
        self.ui = ui

    def open(self, path: str) -> None:
        """Open a notebook of the server's root and wait for its kernel to be idle."""
        url = f"lab/tree/{path}?reset" if self.ui == "lab" else f"notebooks/{path}"
        self.page.goto(self.server.page_url(url))
        self.page.wait_for_function(
            f"() => window.jupyterapp?.shell?.currentWidget?.context?.path === {path!r}", timeout=WAIT_MS
        )
        self.wait_for_kernel()

    def wait_for_kernel(self, timeout: float = WAIT_MS) -> None:
        self.page.wait_for_function(KERNEL_IDLE, timeout=timeout, polling=100)

    def restart_kernel(self) -> None:
        """Restart the kernel from the Kernel menu's command, confirm, and wait until it is back."""
        self.page.evaluate(WATCH_RESTART)
        self.command("notebook:restart-kernel")
        self.page.locator(".jp-Dialog").get_by_role("button", name="Confirm Kernel Restart").click()
        self.page.wait_for_function("() => window.__e2eRestarted", timeout=WAIT_MS, polling=100)
        self.wait_for_kernel()

    def command(self, name: str, args: dict[str, Any] | None = None) -> None:
        """Start a JupyterLab command, as the menus and shortcuts do.

        Returns at once: a command may wait on a dialog, or on every cell it runs, and the
        test goes on to answer the dialog or wait for what it wants to see.
        """
        self.page.evaluate(
            """([name, args]) => {
              window.jupyterapp.commands.execute(name, args).catch((error) => console.error(name, error));
            }""",
            [name, args or {}],
        )

    def run_all(self) -> None:
        """Run every cell, wait until all have run, and fail with the traceback of any error."""
        self.page.evaluate(RUN_ALL)
        self.page.wait_for_function("() => window.__e2eRunAll.done", timeout=RUN_ALL_MS, polling=200)
        self.page.wait_for_function(ALL_RAN, timeout=WAIT_MS, polling=200)
        failure = self.page.evaluate("() => window.__e2eRunAll.error")
        assert failure is None, f"notebook:run-all-cells failed: {failure}"
        errors = self.page.evaluate(ERRORS)
        if errors:
            message = "cells raised:\n" + ANSI.sub("", "\n\n".join(errors))
            raise AssertionError(message)

    @property
    def notebook(self) -> Locator:
        return self.page.locator(".jp-Notebook").first

    def form(self, action: str) -> Form:
        """The Form widget of an action (by the action's function name)."""
        return Form.of(self.page, action)
