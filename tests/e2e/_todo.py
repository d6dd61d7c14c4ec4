"""The to-do app (notebooks/todo_app.ipynb) end to end, the same in JupyterLab, Notebook 7 and Voila."""

from __future__ import annotations

import re
import secrets

from playwright.sync_api import Page, expect

from ._jupyter import screenshot
from ._widgets import Form


def exercise(page: Page, name: str) -> None:
    """Add an item, see the View re-render with it, toggle it (and back), delete it.

    Saves test-output/<name>-toggled.png while the item shows as done.
    """
    add, toggle, delete = Form.of(page, "add"), Form.of(page, "toggle"), Form.of(page, "delete")
    expect(add.submit_button).to_have_text("Add")
    title = f"e2e item {secrets.token_hex(3)}"

    add.submit()  # an empty title
    expect(add.error("title")).to_contain_text("at least 1 character")

    add.fill(title=title)
    add.submit()
    expect(add.result).to_have_text(f"Added '{title}'")
    expect(add.error("title")).to_be_hidden()
    item = page.locator("ul.todo-list li.todo", has_text=title)
    expect(item).to_have_class(re.compile(r"\bopen\b"))  # the View rendered again in the kernel
    number = re.match(r"#(\d+)", item.inner_text())
    assert number, item.inner_text()
    todo_id = number.group(1)

    toggle.fill(todo_id=todo_id)
    toggle.submit()
    expect(toggle.result).to_have_text(f"Toggled #{todo_id}")
    expect(item).to_have_class(re.compile(r"\bdone\b"))
    expect(item.locator("s")).to_have_text(title)
    screenshot(page, f"{name}-toggled")

    toggle.fill(todo_id=todo_id)
    toggle.submit()
    expect(item).to_have_class(re.compile(r"\bopen\b"))

    toggle.fill(todo_id="999999")
    toggle.submit()
    expect(toggle.alert).to_contain_text("no to-do #999999 in this list")

    delete.fill(todo_id=todo_id)
    delete.submit()
    expect(delete.result).to_have_text(f"Deleted #{todo_id}")
    expect(item).to_have_count(0)
