"""View and revalidate: outputs that re-render in the kernel after an action, with live
forms inside (the Next.js list pattern).

The kernel side is driven with the exact custom messages the browser sends; the front
end runs the real ES module in real Chromium, wired to the real widget in this process
(tests/widgets/_browser.py); a notebook saved with widget state is made by nbclient.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import traitlets
from playwright.async_api import Locator, expect

from notebook_actions import UploadedFile, View, action, revalidate, testing
from notebook_actions._view import ANNOUNCE

from ._saved import saved_with_widget_state
from .widgets import conftest as widget_fixtures
from .widgets._browser import Browser, open_browser
from .widgets.conftest import Frontend

frontend = widget_fixtures.frontend


def test_views_re_render_when_their_tag_is_revalidated() -> None:
    items: list[str] = []
    todos = View(lambda: "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>", tags=["todos"])
    other = View(lambda: f"{len(items)} items", tags=["count"])

    @action
    def add(title: str) -> None:
        items.append(title)
        revalidate("todos")

    assert todos.value == "<ul></ul>"
    testing.invoke(add, {"title": "milk"})
    assert todos.value == "<ul><li>milk</li></ul>"
    assert other.value == "0 items"  # not tagged: not re-rendered
    assert revalidate() == 2
    assert other.value == "1 items"


def test_a_failing_render_shows_the_error_in_the_view() -> None:
    view = View(lambda: 1 / 0)
    assert "ZeroDivisionError" in view.value


def test_objects_with_html_reprs_render_as_html() -> None:
    class Table:
        def _repr_html_(self) -> str:
            return "<table></table>"

    assert View(Table).value == "<table></table>"


def test_the_views_module_joins_what_it_imports_once_and_parses(tmp_path: Path) -> None:
    esm = View(lambda: "")._esm
    assert [line for line in esm.splitlines() if line.startswith("// --- ")] == [
        "// --- keys.js",
        "// --- ui.js",
        "// --- submit.js",
        "// --- view.js",
    ]
    path = tmp_path / "view.mjs"
    path.write_text(esm)
    # node is on the machine (tsc needs it); --check parses without running.
    done = subprocess.run(["node", "--check", str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


# --- a list whose rows carry their own forms -------------------------------------


class TodoList:
    """A to-do list with one view: each row a form, "Done" toggles it, "Delete" removes it."""

    def __init__(self, *titles: str, tag: str = "todos") -> None:
        self.rows: dict[int, list[Any]] = {i: [title, False] for i, title in enumerate(titles, 1)}
        self.tag = tag
        self.calls: list[tuple[str, int]] = []

        def toggle(todo_id: int) -> str:
            self.calls.append(("toggle", todo_id))
            if todo_id not in self.rows:
                message = f"no to-do #{todo_id}"
                raise LookupError(message)
            self.rows[todo_id][1] = not self.rows[todo_id][1]
            revalidate(tag)
            return f"toggled #{todo_id}"

        def delete(todo_id: int) -> str:
            self.calls.append(("delete", todo_id))
            del self.rows[todo_id]
            revalidate(tag)
            return f"deleted #{todo_id}"

        self.toggle, self.delete = action(toggle), action(delete)

    def render(self) -> str:
        return "<ul>" + "".join(self.row(i, title, done) for i, (title, done) in self.rows.items()) + "</ul>"

    @staticmethod
    def row(todo_id: int, title: str, done: bool) -> str:
        return (
            f"<li class='todo {'done' if done else 'open'}'><form data-action='toggle'>"
            f"<input type='hidden' name='todo_id' value='{todo_id}'>"
            f"<button aria-pressed='{str(done).lower()}'>Done</button> <span>{html.escape(title)}</span> "
            f"<button data-action='delete'>Delete</button></form></li>"
        )

    def view(self, **kwargs: Any) -> View:
        return View(self.render, actions=[self.toggle, self.delete], tags=[self.tag], **kwargs)


def invoke(frontend: Frontend, view: View, rid: str, action_id: str, **args: Any) -> dict[str, Any] | None:
    frontend.send(view, {"kind": "invoke", "id": rid, "action": action_id, "args": args, "encoding": "form"})
    return frontend.final(view, rid)


def test_a_view_answers_for_the_actions_it_holds_and_refuses_a_third(frontend: Frontend) -> None:
    todos = TodoList("milk", "eggs")
    view = todos.view()
    state = frontend.state(view)
    assert sorted(state["actions"]) == ["delete", "toggle"]
    assert state["actions"]["toggle"]["id"] == todos.toggle.id
    assert state["actions"]["toggle"]["params"]["properties"] == {"todo_id": {"title": "Todo Id", "type": "integer"}}
    assert "milk" in state["value"]

    reply = invoke(frontend, view, "a", todos.toggle.id, todo_id="2")
    assert reply == {"kind": "result", "id": "a", "value": "toggled #2"}
    assert "<li class='todo done'><form data-action='toggle'><input type='hidden' name='todo_id' value='2'>" in (
        view.value
    )

    ran: list[str] = []
    third = action(lambda: ran.append("third"))  # registered in this kernel, held by no widget
    reply = invoke(frontend, view, "b", third.id)
    assert reply is not None and reply["kind"] == "not_found", reply
    assert ran == []
    assert todos.calls == [("toggle", 2)]


def test_the_new_html_goes_out_before_the_reply_and_is_announced_in_order_with_it(frontend: Frontend) -> None:
    todos = TodoList("milk")
    view = todos.view()
    seen: list[tuple[str, Any]] = []

    def record(model_id: str, message: dict[str, Any], _buffers: list[bytes]) -> None:
        if model_id != view.model_id:
            return
        if message.get("method") == "update":
            seen.append(("update", message["state"]))
        elif message.get("method") == "custom":
            seen.append(("custom", message["content"]))

    frontend.listeners.append(record)
    invoke(frontend, view, "a", todos.toggle.id, todo_id="1")
    assert [kind for kind, _ in seen] == ["update", "custom", "custom"], seen
    update, announce, reply = (payload for _, payload in seen)
    assert update["rendered"] == 1 and "todo done" in update["value"]
    assert announce == {ANNOUNCE: {"rendered": 1}}
    assert reply["notebook_actions"]["kind"] == "result"


def test_bound_actions_and_previous_state_work_as_for_forms(frontend: Frontend) -> None:
    marks: dict[int, list[str]] = {1: [], 2: []}

    def mark(list_id: int, todo_id: int, label: str = "x") -> str:
        marks[list_id].append(f"{todo_id}{label}")
        revalidate("marks")
        return f"marked {todo_id} in list {list_id}"

    marked = action(mark)
    view = View(lambda: f"<p>{marks[2]}</p>", actions=[marked.bind(2)], tags=["marks"])
    ref = frontend.state(view)["actions"]["mark"]
    assert set(ref["params"]["properties"]) == {"todo_id", "label"}  # list_id stays in the kernel
    reply = invoke(frontend, view, "a", ref["id"], todo_id="7")
    assert reply is not None and reply["value"] == "marked 7 in list 2", reply
    assert marks == {1: [], 2: ["7x"]} and view.value == "<p>['7x']</p>"
    # The unbound action itself is not reachable through the view.
    reply = invoke(frontend, view, "b", marked.id, list_id="1", todo_id="1")
    assert reply is not None and reply["kind"] == "not_found" and marks[1] == []

    def count(previous: int, step: int = 1) -> int:
        return previous + step

    counter = View(lambda: "", actions=[action(count)], previous_state=True, initial_state=10)
    ref = frontend.state(counter)["actions"]["count"]
    assert set(ref["params"]["properties"]) == {"step"}  # the previous state stays in the kernel too
    assert [invoke(frontend, counter, rid, ref["id"], step="5") for rid in "cd"] == [
        {"kind": "result", "id": "c", "value": 15},
        {"kind": "result", "id": "d", "value": 20},
    ]


def test_what_the_view_is_given_is_checked_with_a_message_that_says_what_to_do() -> None:
    def plain(todo_id: int) -> None:
        pass

    # What a notebook may pass, whatever the annotations say.
    not_an_action: Any = plain
    not_a_function: Any = "<p>static</p>"
    with pytest.raises(
        traitlets.TraitError, match=r"View.actions\['plain'\]: 'plain' is a plain function, not an action"
    ):
        View(lambda: "", actions=[not_an_action])
    first, second = action(plain), action(plain)
    with pytest.raises(ValueError, match=r"two actions named 'plain': pass a mapping"):
        View(lambda: "", actions=[first, second])
    with pytest.raises(ValueError, match="cannot run concurrently"):
        View(lambda: "", actions=[first], previous_state=True, concurrent=True)
    with pytest.raises(TypeError, match="a function that returns HTML"):
        View(not_a_function)


def test_closed_views_are_not_rendered_again() -> None:
    renders: list[int] = []

    def render() -> str:
        renders.append(1)
        return "x"

    view = View(render, tags=["t"])
    view.close()
    assert revalidate("t") == 0 and renders == [1]


# --- a notebook saved with widget state ------------------------------------------

SECRETS = {"closure": "CLOSURE-SECRET-4411", "bound": "BOUND-SECRET-4412", "result": "RESULT-SECRET-4413"}

# The secrets reach the kernel through its environment: a cell's source is saved too.
SETUP = """
import json, os
from notebook_actions import View, action, revalidate

S = json.loads(os.environ["NA_VIEW_SECRETS"])
done = set()

def make():
    api_key = S["closure"]

    def toggle(token: str, todo_id: int) -> str:
        assert token == S["bound"] and api_key
        done.symmetric_difference_update({todo_id})
        revalidate("saved")
        return S["result"]

    return action(toggle).bind(S["bound"])

def render():
    return "".join(
        f"<form data-action='toggle'><input type='hidden' name='todo_id' value='{i}'>"
        f"<button>{'undo' if i in done else 'done'} {i}</button></form>"
        for i in (1, 2)
    )

view = View(render, actions=[make()], tags=["saved"])
view
"""

# What the browser sends when row 2's button is clicked; the reply is a custom message.
SUBMIT = """
replies = []
original = view.send
view.send = lambda content, buffers=None: (replies.append(content), original(content, buffers))
msg = {"kind": "invoke", "id": "r", "action": view.actions["toggle"].id, "args": {"todo_id": "2"}, "encoding": "form"}
view._handle_msg({"content": {"data": {"method": "custom", "content": {"notebook_actions": msg}}}, "buffers": []})
assert replies[-1]["notebook_actions"] == {"kind": "result", "id": "r", "value": S["result"]}, replies
assert "undo 2" in view.value
"""


def test_a_notebook_saved_with_widget_state_holds_the_html_and_no_result_or_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NA_VIEW_SECRETS", json.dumps(SECRETS))
    nb, text = saved_with_widget_state(tmp_path, SETUP, SUBMIT)

    widget_state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    views = [m["state"] for m in widget_state.values() if "rendered" in m["state"]]
    assert len(views) == 1
    saved = views[0]
    assert "undo 2" in saved["value"] and saved["rendered"] == 1  # the HTML as it was last rendered
    assert list(saved["actions"]) == ["toggle"]
    assert set(saved["actions"]["toggle"]) == {"id", "name", "streaming", "doc", "params", "files"}
    assert [name for name, value in SECRETS.items() if value in text] == []


# --- the front end, in Chromium ----------------------------------------------------

# ipywidgets applies a state update through a chain of promises, while it hands a custom
# message (a reply) to the widget at once: hold the updates back to reproduce that order.
HOLD_UPDATES = """() => {
  const deliver = window.__deliver;
  window.__held = [];
  window.__deliver = (id, message, buffers) => {
    if (message.method === "update") window.__held.push([id, message, buffers]);
    else deliver(id, message, buffers);
  };
  window.__release = () => {
    window.__deliver = deliver;
    for (const args of window.__held.splice(0)) deliver(...args);
  };
}"""

REPLIED = """() => window.__received.some((c) => c.notebook_actions?.kind === "result")"""


@pytest.fixture
async def browser(frontend: Frontend) -> AsyncIterator[Browser]:
    async with open_browser(frontend) as b:
        yield b


def row(root: str, browser: Browser, title: str) -> Locator:
    return browser.page.locator(f"{root} li", has_text=title)


async def invokes(browser: Browser) -> list[Any]:
    return list(
        await browser.page.evaluate(
            "() => window.__sent.map((s) => s.content.notebook_actions).filter((m) => m && m.kind === 'invoke')"
        )
    )


@pytest.mark.browser
async def test_each_row_calls_its_own_action_and_the_list_shows_the_result(browser: Browser) -> None:
    todos = TodoList("milk", "eggs", "bread")
    root = await browser.mount(todos.view())
    page = browser.page
    await expect(page.locator(f"{root} li")).to_have_count(3)

    await row(root, browser, "eggs").get_by_role("button", name="Done").click()
    await expect(row(root, browser, "eggs").get_by_role("button", name="Done")).to_have_attribute(
        "aria-pressed", "true"
    )
    await expect(row(root, browser, "milk").get_by_role("button", name="Done")).to_have_attribute(
        "aria-pressed", "false"
    )
    await row(root, browser, "milk").get_by_role("button", name="Delete").click()  # formAction: the button's action
    await expect(page.locator(f"{root} li")).to_have_text([re.compile("eggs"), re.compile("bread")])
    assert todos.calls == [("toggle", 2), ("delete", 1)]
    # The hidden input went along; nothing else did.
    assert [m["args"] for m in await invokes(browser)] == [{"todo_id": "2"}, {"todo_id": "1"}]
    # A success says nothing: the re-rendered row is the answer.
    await expect(page.locator(f"{root} .na-status")).to_have_text(["", ""])

    # From the keyboard: the focus stays on the row's button through the re-render.
    await row(root, browser, "bread").get_by_role("button", name="Done").focus()
    await page.keyboard.press("Enter")
    done = row(root, browser, "bread").get_by_role("button", name="Done")
    await expect(done).to_have_attribute("aria-pressed", "true")
    await expect(done).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(done).to_have_attribute("aria-pressed", "false")
    assert todos.calls[2:] == [("toggle", 3), ("toggle", 3)]


@pytest.mark.browser
async def test_a_form_stays_pending_until_its_re_rendered_html_arrives(browser: Browser) -> None:
    todos = TodoList("milk", "eggs")
    root = await browser.mount(todos.view())
    page = browser.page
    await page.evaluate(HOLD_UPDATES)
    eggs = row(root, browser, "eggs")
    await eggs.get_by_role("button", name="Done").click()
    await page.wait_for_function(REPLIED)

    # The reply is in, the new HTML is not: the row still says "pending", never "not done".
    form = eggs.locator("form")
    await expect(form).to_have_attribute("aria-busy", "true")
    await expect(eggs.get_by_role("button", name="Done")).to_be_disabled()
    await expect(eggs.get_by_role("button", name="Done")).to_have_attribute("aria-pressed", "false")

    await page.evaluate("() => window.__release()")
    await expect(eggs.get_by_role("button", name="Done")).to_have_attribute("aria-pressed", "true")
    await expect(form).to_have_attribute("aria-busy", "false")
    await expect(eggs.get_by_role("button", name="Done")).to_be_enabled()


@pytest.mark.browser
async def test_a_pending_row_keeps_its_state_and_cancel_through_another_rows_re_render(browser: Browser) -> None:
    gate = asyncio.Event()
    todos = TodoList("milk", "eggs")

    async def slow_delete(todo_id: int) -> str:
        await gate.wait()
        del todos.rows[todo_id]
        revalidate("todos")
        return "deleted"

    view = View(todos.render, actions={"toggle": todos.toggle, "delete": action(slow_delete)}, tags=["todos"])
    view.concurrent = True
    root = await browser.mount(view)
    milk, eggs = row(root, browser, "milk"), row(root, browser, "eggs")
    await milk.get_by_role("button", name="Delete").click()
    await expect(milk.locator("form")).to_have_attribute("aria-busy", "true")

    await eggs.get_by_role("button", name="Done").click()  # re-renders the whole list meanwhile
    await expect(eggs.get_by_role("button", name="Done")).to_have_attribute("aria-pressed", "true")
    await expect(milk.locator("form")).to_have_attribute("aria-busy", "true")  # the new milk row is still pending
    await expect(milk.get_by_role("button", name="Cancel")).to_be_visible()

    gate.set()
    await expect(milk).to_have_count(0)
    await expect(eggs.locator("form")).to_have_attribute("aria-busy", "false")


@pytest.mark.browser
async def test_cancel_stops_a_rows_call_in_the_kernel(browser: Browser) -> None:
    started, finished = asyncio.Event(), []
    todos = TodoList("milk", "eggs")

    async def slow_delete(todo_id: int) -> str:
        started.set()
        await asyncio.sleep(60)
        finished.append(todo_id)
        return "deleted"

    root = await browser.mount(View(todos.render, actions={"toggle": todos.toggle, "delete": action(slow_delete)}))
    milk = row(root, browser, "milk")
    await milk.get_by_role("button", name="Delete").click()
    await asyncio.wait_for(started.wait(), 10)
    await expect(milk.get_by_role("button", name="Cancel")).to_be_focused()  # the clicked button is disabled
    await milk.get_by_role("button", name="Cancel").click()
    await expect(milk.locator(".na-status")).to_have_text("Cancelled.")
    await expect(milk.locator("form")).to_have_attribute("aria-busy", "false")
    await expect(milk.get_by_role("button", name="Delete")).to_be_enabled()
    await expect(browser.page.locator(f"{root} li")).to_have_count(2)
    assert finished == []


@pytest.mark.browser
async def test_field_errors_errors_and_files_show_in_their_own_row(browser: Browser) -> None:
    received: list[tuple[int, str, bytes]] = []

    def rename(todo_id: int, copies: int, attachment: UploadedFile | None = None) -> str:
        if todo_id == 2:
            message = "row 2 is locked"
            raise PermissionError(message)
        received.append((todo_id, attachment.name if attachment else "", attachment.read() if attachment else b""))
        return "ok"

    def render() -> str:
        return "".join(
            f"<div class='row' id='row-{i}'><form data-action='rename'>"
            f"<input type='hidden' name='todo_id' value='{i}'>"
            f"<label>Copies {i} <input name='copies'></label> "
            f"<input type='file' name='attachment' aria-label='File {i}'>"
            f"<button>Save {i}</button></form></div>"
            for i in (1, 2)
        )

    root = await browser.mount(View(render, actions=[action(rename)], include_traceback=False))
    page = browser.page
    await page.get_by_label("Copies 1").fill("many")
    await page.get_by_role("button", name="Save 1").click()
    first = page.locator(f"{root} #row-1")
    await expect(first.locator(".na-field-error")).to_have_text("Enter a whole number.")  # next to that row's input
    await expect(page.get_by_label("Copies 1")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator(f"{root} #row-2 .na-field-error")).to_have_count(0)

    await page.get_by_label("Copies 2").fill("1")
    await page.get_by_role("button", name="Save 2").click()
    second = page.locator(f"{root} #row-2")
    await expect(second.get_by_role("alert")).to_contain_text("PermissionError")  # the row's general error
    await expect(second.locator(".na-status")).to_have_text("Failed.")
    await expect(first.get_by_role("alert")).to_contain_text("Please correct")  # row 1 keeps its own

    await page.get_by_label("Copies 1").fill("3")
    await page.get_by_label("File 1").set_input_files(
        {"name": "note.txt", "mimeType": "text/plain", "buffer": b"hello file"}
    )
    await page.get_by_role("button", name="Save 1").click()
    await expect(first.get_by_role("alert")).to_have_count(0)
    await expect(first.locator("form")).to_have_attribute("aria-busy", "false")
    assert received == [(1, "note.txt", b"hello file")]


@pytest.mark.browser
async def test_a_data_action_the_view_does_not_hold_is_an_error_and_never_reaches_the_kernel(
    browser: Browser,
) -> None:
    todos = TodoList("milk")

    def render() -> str:
        return todos.render() + (
            "<form data-action='archive' id='archive'><input type='hidden' name='todo_id' value='1'>"
            "<button>Archive</button></form><form id='bare'><button>Bare</button></form>"
        )

    root = await browser.mount(View(render, actions=[todos.toggle]))
    page = browser.page
    notice = page.locator(f"{root} .na-view-notice")
    await expect(notice).to_contain_text('names actions it does not hold: "delete", "archive"')
    await expect(notice).to_contain_text('it holds "toggle"')

    await page.get_by_role("button", name="Archive").click()
    await expect(page.locator(f"{root} #archive [role=alert]")).to_contain_text(
        'this view holds no action "archive": pass it in View(render, actions=[...])'
    )
    await page.get_by_role("button", name="Bare").click()
    await expect(page.locator(f"{root} #bare [role=alert]")).to_contain_text("this form names no action")
    await page.get_by_role("button", name="Delete").click()
    await expect(row(root, browser, "milk").get_by_role("alert")).to_contain_text('no action "delete"')
    assert await invokes(browser) == []
    assert todos.calls == []
