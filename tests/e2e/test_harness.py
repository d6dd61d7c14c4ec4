"""The harness itself: stock ipywidgets (a Button whose click updates a Label) and one of
our ActionButtons on the same page, each seeing the other's effects, in JupyterLab and
Notebook 7. If this fails, the browser tests of the product cannot be trusted either."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from ._jupyter import Jupyter

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def click_both(app: Jupyter) -> None:
    app.open("stock_widgets.ipynb")
    app.run_all()
    label = app.page.locator(".e2e-label")
    expect(label).to_have_text("not clicked")
    app.page.locator("button.e2e-button").click()
    expect(label).to_have_text("clicked 1 times")
    app.page.locator("button.e2e-button").click()
    expect(label).to_have_text("clicked 2 times")
    # Our widget's call reaches the same kernel state the stock handler changed.
    app.page.locator("button.na-action-button").click()
    expect(app.page.locator(".na-button-widget .na-output")).to_contain_text("action saw 2 stock clicks")


def test_stock_and_action_widgets_share_a_page_in_jupyterlab(lab: Jupyter) -> None:
    click_both(lab)


def test_stock_and_action_widgets_share_a_page_in_notebook7(notebook7: Jupyter) -> None:
    click_both(notebook7)
