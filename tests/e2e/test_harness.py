"""The harness itself, proven on stock ipywidgets: a Button whose click updates a Label."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from ._jupyter import Jupyter

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def test_stock_ipywidgets_button_updates_label_in_jupyterlab(lab: Jupyter) -> None:
    lab.open("stock_widgets.ipynb")
    lab.run_all()
    label = lab.page.locator(".e2e-label")
    expect(label).to_have_text("not clicked")
    lab.page.locator("button.e2e-button").click()
    expect(label).to_have_text("clicked 1 times")
    lab.page.locator("button.e2e-button").click()
    expect(label).to_have_text("clicked 2 times")
