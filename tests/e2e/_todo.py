"""The to-do app (notebooks/todo_app.ipynb) end to end, the same in JupyterLab, Notebook 7 and Voila."""

from __future__ import annotations

import re
import secrets
from typing import Any

from playwright.sync_api import Locator, Page, expect

from ._jupyter import screenshot
from ._widgets import Form

# Every state one row passes through, found by its hidden to-do id (a re-render replaces
# the row's form, so the observer watches the whole view).
RECORD_ROW = """(view, todoId) => {
  const states = [];
  const snap = () => {
    const form = view.querySelector(`form input[name=todo_id][value="${todoId}"]`)?.form;
    const state = {
      busy: form?.getAttribute("aria-busy") ?? null,
      pressed: form?.querySelector("[aria-pressed]")?.getAttribute("aria-pressed") ?? null,
    };
    const last = states[states.length - 1];
    if (!last || last.busy !== state.busy || last.pressed !== state.pressed) states.push(state);
  };
  snap();
  new MutationObserver(snap).observe(view, { attributes: true, childList: true, subtree: true });
  view.__e2eRow = states;
}"""


class TodoView:
    """The app's View on the page: a list whose rows each carry a Done and a Delete button."""

    def __init__(self, page: Page) -> None:
        self.widget = page.locator(".na-view").filter(has=page.locator(".todo-list, .todo-empty"))
        self.rows = self.widget.locator("ul.todo-list li.todo")

    def row(self, title: str) -> Locator:
        return self.rows.filter(has_text=title)

    def done(self, title: str) -> Locator:
        return self.row(title).get_by_role("button", name="Done")

    def delete(self, title: str) -> Locator:
        return self.row(title).get_by_role("button", name="Delete")

    def todo_id(self, title: str) -> str:
        value = self.row(title).locator("input[name=todo_id]").get_attribute("value")
        assert value is not None
        return value

    def expect_list(self, expected: list[tuple[str, bool]]) -> None:
        """The rendered list is exactly these (title, done) rows, in order."""
        expect(self.rows.locator(".todo-title")).to_have_text([title for title, _ in expected])
        for index, (_, done) in enumerate(expected):
            item = self.rows.nth(index)
            expect(item).to_have_class(re.compile(r"\bdone\b" if done else r"\bopen\b"))
            expect(item.get_by_role("button", name="Done")).to_have_attribute("aria-pressed", str(done).lower())
            expect(item.locator("form")).to_have_attribute("aria-busy", "false")

    def record(self, title: str) -> None:
        self.widget.evaluate(RECORD_ROW, self.todo_id(title))

    def recorded(self) -> list[dict[str, Any]]:
        return list(self.widget.evaluate("(view) => view.__e2eRow ?? []"))


def exercise(page: Page, name: str, refusal: str = "no to-do #999999 in this list") -> TodoView:
    """Add three to-dos, mark the second done by its own button, delete the first; after each
    click the rendered list shows exactly that. Then a row whose hidden id was tampered with.

    Saves test-output/<name>-toggled.png while the second shows as done. ``refusal``: what
    the tampered row says (an app page's visitors see the error's type, not its message).
    """
    add, todos = Form.of(page, "add"), TodoView(page)
    expect(add.submit_button).to_have_text("Add")
    expect(todos.widget).to_contain_text("Nothing to do.")

    add.submit()  # an empty title
    expect(add.error("title")).to_have_text("This field is required.")  # an empty required field is missing

    first, second, third = (f"{word} {secrets.token_hex(3)}" for word in ("first", "second", "third"))
    for count, title in enumerate((first, second, third), 1):
        add.fill(title=title)
        add.submit()
        expect(add.result).to_have_text(f"Added '{title}'")
        todos.expect_list([(t, False) for t in (first, second, third)[:count]])  # the View rendered again
    expect(add.error("title")).to_be_hidden()

    todos.record(second)
    todos.done(second).click()
    todos.expect_list([(first, False), (second, True), (third, False)])
    expect(todos.row(second).locator("s")).to_have_text(second)
    # Pending from the click until the new row arrived: never idle while still showing "not done".
    states = todos.recorded()
    assert {"busy": "true", "pressed": "false"} in states, states
    after_click = states[states.index({"busy": "true", "pressed": "false"}) :]
    assert {"busy": "false", "pressed": "false"} not in after_click, f"the row flashed its old state: {states}"
    screenshot(page, f"{name}-toggled")

    todos.delete(first).click()
    todos.expect_list([(second, True), (third, False)])

    todos.done(second).click()  # and back
    todos.expect_list([(second, False), (third, False)])

    # A row whose hidden id was changed in the page: the kernel refuses it, and that row says so.
    todos.row(third).locator("input[name=todo_id]").evaluate("(input) => { input.value = '999999'; }")
    todos.done(third).click()
    expect(todos.row(third).get_by_role("alert")).to_contain_text(refusal)
    expect(todos.row(second).get_by_role("alert")).to_have_count(0)
    todos.expect_list([(second, False), (third, False)])
    return todos
