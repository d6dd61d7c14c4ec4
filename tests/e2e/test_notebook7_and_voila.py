"""The to-do app end to end outside JupyterLab: in Notebook 7, and in Voila (where only comm
messages reach the kernel: no cell can be run from the page)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from ._jupyter import Jupyter
from ._servers import Server
from ._todo import exercise
from ._widgets import Form

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def test_todo_app_in_notebook7(notebook7: Jupyter) -> None:
    notebook7.open("todo_app.ipynb")
    notebook7.run_all()
    exercise(notebook7.page, "test_todo_app_in_notebook7")


def test_todo_app_in_voila(page: Page, voila_server: Server) -> None:
    page.goto(voila_server.page_url(""))
    # Voila runs the notebook before the widgets appear: allow for a slow kernel.
    expect(Form.of(page, "add").submit_button).to_be_visible(timeout=120_000)
    expect(page.get_by_text("sqlite3.connect")).to_have_count(0)  # Voila shows no code
    todos = exercise(page, "test_todo_app_in_voila")
    # A Voila visitor is not the notebook's owner: the error, with no traceback, and its digest.
    alert = todos.widget.get_by_role("alert")
    expect(alert).to_contain_text("LookupError")
    expect(alert.locator(".na-digest")).to_be_visible()
    expect(alert.locator(".na-traceback")).to_have_count(0)
