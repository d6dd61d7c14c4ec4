"""The harness itself, proven on stock ipywidgets: a Button whose click updates a Label."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from ._jupyter import Jupyter

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def click_and_see_label(app: Jupyter) -> None:
    app.open("stock_widgets.ipynb")
    app.run_all()
    label = app.page.locator(".e2e-label")
    expect(label).to_have_text("not clicked")
    app.page.locator("button.e2e-button").click()
    expect(label).to_have_text("clicked 1 times")
    app.page.locator("button.e2e-button").click()
    expect(label).to_have_text("clicked 2 times")


def test_stock_ipywidgets_button_updates_label_in_jupyterlab(lab: Jupyter) -> None:
    click_and_see_label(lab)


def test_stock_ipywidgets_button_updates_label_in_notebook7(notebook7: Jupyter) -> None:
    click_and_see_label(notebook7)
