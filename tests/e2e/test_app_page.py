"""The to-do app's page in real Chromium: ``jupyter notebook-actions serve
notebooks/todo_app.ipynb --kernels=2``, a browser on ``/`` with the token. The Form adds,
the rows' buttons mark done and delete, the View renders again in a pool kernel after
each; a second browser sees the same list; phone-sized and dark, it still reads as an app."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.server.test_app_page import APP, TODO, start_serve
from tests.server.test_serve_cli import Serve, ready

from ._jupyter import screenshot
from ._todo import TodoView, exercise
from ._widgets import Form

WIDER_THAN_THE_PAGE = """() => Array.from(document.querySelectorAll("*"))
  .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
  .slice(0, 6).map((e) => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    # Public too: token holders are the server's user (one list), anonymous visitors each their own.
    yield from start_serve(tmp_path_factory.mktemp("app-page-e2e"), options=("--public",))


def test_the_todo_app_page_adds_marks_done_and_deletes_through_the_pool(
    page: Page, browser: Browser, server: Serve
) -> None:
    page.goto(f"{server.url}?token={server.token}")
    expect(page).to_have_url(re.compile(rf"/notebook-actions/apps/{re.escape(TODO)}"))
    expect(page.get_by_role("heading", name="A to-do app on SQLite")).to_be_visible()
    expect(page.locator(".na-app")).to_have_attribute("aria-busy", "false")  # the widgets are live
    assert page.locator("text=sqlite3.connect").count() == 0  # code hidden

    todos = exercise(page, "app-page", refusal="the action raised LookupError")
    kept = [title.strip() for title in todos.rows.locator(".todo-title").all_inner_texts()]
    assert len(kept) == 2

    # Another visitor (no shared cookie: logged in by the token too) sees the same list, from
    # a render in a pool kernel, not the prime's snapshot.
    other = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="dark")
    try:
        visitor = other.new_page()
        visitor.goto(f"{server.url}?token={server.token}")
        TodoView(visitor).expect_list([(kept[0], False), (kept[1], False)])
        background = visitor.evaluate("getComputedStyle(document.documentElement).backgroundColor")
        assert background == "rgb(18, 21, 27)"  # dark, as the visitor's system asks
        add = Form.of(visitor, "add")
        expect(visitor.locator(".na-app")).to_have_attribute("aria-busy", "false")
        width = visitor.evaluate("document.documentElement.scrollWidth")
        wide = visitor.evaluate(WIDER_THAN_THE_PAGE)
        assert width <= 390, f"the page scrolls sideways on a phone: {wide}"
        add.fill(title="from the phone")
        add.submit()
        expect(add.result).to_have_text("Added 'from the phone'")
        screenshot(visitor, "app-page-phone-dark")
    finally:
        other.close()
    page.reload()
    TodoView(page).expect_list([(kept[0], False), (kept[1], False), ("from the phone", False)])
    screenshot(page, "app-page-todo")


def test_two_anonymous_visitors_of_the_public_app_each_have_their_own_list(browser: Browser, server: Serve) -> None:
    # No token: each browser is a visitor named by its own signed cookie (current_user().name).
    contexts = [browser.new_context(), browser.new_context(), browser.new_context()]
    try:
        pages = [context.new_page() for context in contexts[:2]]
        for page, title in zip(pages, ("first visitor's", "second visitor's"), strict=True):
            page.goto(f"{server.url}notebook-actions/apps/{TODO}")
            expect(page.locator(".na-app")).to_have_attribute("aria-busy", "false")
            TodoView(page).expect_list([])  # a new visitor's list is empty, whatever others added
            add = Form.of(page, "add")
            add.fill(title=title)
            add.submit()
            expect(add.result).to_have_text(f"Added {title!r}")
            TodoView(page).expect_list([(title, False)])
        first, _ = pages
        first.reload()
        TodoView(first).expect_list([("first visitor's", False)])
        # The server's user, with the token, does not see the visitors' to-dos.
        owner = contexts[2].new_page()
        owner.goto(f"{server.url}notebook-actions/apps/{TODO}?token={server.token}")
        expect(owner.locator(".na-app")).to_have_attribute("aria-busy", "false")
        expect(TodoView(owner).rows.filter(has_text="visitor's")).to_have_count(0)
    finally:
        for context in contexts:
            context.close()


def test_a_kernel_sigkilled_between_two_clicks_leaves_the_page_working(page: Page, server: Serve) -> None:
    page.goto(f"{server.url}notebook-actions/apps/{TODO}?token={server.token}")
    expect(page.locator(".na-app")).to_have_attribute("aria-busy", "false")
    add, todos = Form.of(page, "add"), TodoView(page)
    add.fill(title="before the kill")
    add.submit()
    expect(add.result).to_have_text("Added 'before the kill'")
    # Either kernel of the pool answered: each in turn is killed right after a click, and the
    # next click, at once, is answered by the other one (or the kernel primed in its place).
    kernels = [k["id"] for k in server.status()[TODO]["kernels"]]
    for doomed, title in zip(kernels, ("after one", "after two"), strict=True):
        server.wait_for(ready(TODO, 2), timeout=60)
        os.kill(server.kernel_pid(doomed), signal.SIGKILL)
        add.fill(title=title)
        add.submit()
        expect(add.result).to_have_text(f"Added {title!r}")
        expect(todos.row(title)).to_be_visible()  # the view rendered again, in a live kernel
        expect(page.locator(".na-app-failure, [role='alert']")).to_have_count(0)
    server.wait_for(ready(TODO, 2), timeout=60)


UPLOADS = "notebooks/uploads_and_streaming.ipynb"
QUICKSTART = "notebooks/quickstart.ipynb"
CUSTOM = "notebooks/custom_widget.ipynb"
SECRETS = "notebooks/secrets.ipynb"


#: A sync action that holds the kernel's main thread until a file exists, and another one.
BUSY = "notebooks/busy_app.ipynb"
BUSY_CELLS = [
    "%load_ext notebook_actions",
    """import time
from pathlib import Path

from notebook_actions import action
from notebook_actions.widgets import Form


@action
def hold(flag: str) -> str:
    while not Path(flag).exists():
        time.sleep(0.01)
    return "released"


@action
def shout(word: str) -> str:
    return word.upper()


Form(hold)""",
    "Form(shout)",
]


@pytest.fixture(scope="module")
def uploads_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    notebooks = (UPLOADS, QUICKSTART, CUSTOM, SECRETS, APP, BUSY)
    yield from start_serve(
        tmp_path_factory.mktemp("app-page-examples"), *notebooks, kernels=1, written={BUSY: BUSY_CELLS}
    )


def test_a_call_behind_a_busy_kernel_says_it_waits_as_in_jupyterlab(
    page: Page, uploads_server: Serve, tmp_path: Path
) -> None:
    page.goto(f"{uploads_server.url}notebook-actions/apps/{BUSY}?token={uploads_server.token}")
    expect(page.locator(".na-app")).to_have_attribute("aria-busy", "false")
    hold, shout = Form.of(page, "hold"), Form.of(page, "shout")
    flag = tmp_path / "release"
    hold.fill(flag=str(flag))
    hold.submit()  # the pool's one kernel: its main thread is held until the flag exists
    uploads_server.wait_for(lambda now: now[BUSY]["kernels"][0]["in_flight"] == 1, timeout=10)
    shout.fill(word="hello")
    shout.submit()
    # The kernel's own notice, as the widget shows it in JupyterLab.
    expect(shout.status).to_have_text("Waiting for the kernel's main thread (another action is running)…")
    flag.touch()
    expect(hold.result).to_have_text("released")
    expect(shout.result).to_have_text("HELLO")


def test_an_upload_streamed_progress_and_cancel_work_over_http(page: Page, uploads_server: Serve) -> None:
    page.goto(f"{uploads_server.url}notebook-actions/apps/{UPLOADS}?token={uploads_server.token}")
    expect(page.locator(".na-app")).to_have_attribute("aria-busy", "false")

    summarise = Form.of(page, "summarise_csv")
    csv = b"city,temp\nOslo,4.5\nLima,19.5\n"
    summarise.field("data").set_input_files({"name": "weather.csv", "mimeType": "text/csv", "buffer": csv})
    summarise.submit()
    expect(summarise.result).to_contain_text('"rows": 2')
    expect(summarise.result).to_contain_text('"temp": 12')
    # Past the widgets' inline budget (4 MiB), a file goes up in chunks first.
    big = b"city,temp\n" + b"Oslo,4.5\n" * 600_000
    summarise.field("data").set_input_files({"name": "big.csv", "mimeType": "text/csv", "buffer": big})
    summarise.submit()
    expect(summarise.result).to_contain_text('"rows": 600000')

    crunch = Form.of(page, "crunch")
    crunch.fill(steps="3", seconds_per_step="0.01")
    crunch.submit()
    expect(crunch.stream).to_contain_text("done")  # the chunk after the Progress reports

    crunch.fill(steps="1000", seconds_per_step="0.05")
    crunch.submit()
    expect(crunch.progress).to_contain_text("of 1000")  # Progress, as server-sent events
    crunch.cancel.click()
    expect(crunch.status).to_have_text("Cancelled.")
    # The request ended (the server then cancels the call in the kernel), so the lease is free.
    uploads_server.wait_for(lambda now: now[UPLOADS]["kernels"][0]["in_flight"] == 0, timeout=10)


def test_the_other_examples_work_as_app_pages(page: Page, uploads_server: Serve) -> None:
    def open_app(notebook: str) -> None:
        page.goto(f"{uploads_server.url}notebook-actions/apps/{notebook}?token={uploads_server.token}")
        expect(page.locator(".na-app")).to_have_attribute("aria-busy", "false")
        expect(page.locator(".na-app-failure")).to_have_count(0)

    open_app(QUICKSTART)
    greet = Form.of(page, "greet")  # an inline action closing over "Hello"
    greet.fill(name="Ada")
    greet.submit()
    expect(greet.result).to_have_text("Hello, Ada!")
    add = Form.of(page, "add_todo")
    add.submit()
    expect(add.error("title")).to_be_visible()  # the per-field error, from the pool's 422

    open_app(CUSTOM)  # an ActionWidget subclass, through callAction
    page.locator("button.vote-up").click()
    expect(page.locator("output")).to_have_text(" 1 up, 0 down")

    open_app(SECRETS)
    assert "demo-key-0000-not-a-real-secret" not in page.content()
    screenshot(page, "app-page-secrets")


def test_without_javascript_the_forms_post_and_redirect_back(browser: Browser, server: Serve) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{server.url}?token={server.token}")
        form = page.locator("form.na-app-form")
        form.get_by_label("Title").fill("no script")
        form.get_by_role("button", name="Add").click()
        expect(page.locator(".na-app-flash")).to_have_text("Added 'no script'")  # after the 303, on the page
        row = page.locator("li.todo").filter(has_text="no script")
        expect(row).to_have_class(re.compile(r"\bopen\b"))
        row.get_by_role("button", name="Done").click()  # the row's form, its own action
        expect(page.locator("li.todo").filter(has_text="no script")).to_have_class(re.compile(r"\bdone\b"))
        page.locator("li.todo").filter(has_text="no script").get_by_role("button", name="Delete").click()  # formaction
        expect(page.locator(".na-app-flash")).to_contain_text("Deleted #")
        expect(page.locator("li.todo").filter(has_text="no script")).to_have_count(0)
        screenshot(page, "app-page-no-javascript")
    finally:
        context.close()


def test_without_javascript_an_action_button_posts_and_custom_widgets_say_they_need_it(
    browser: Browser, uploads_server: Serve
) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{uploads_server.url}notebook-actions/apps/{APP}?token={uploads_server.token}")
        page.get_by_role("button", name="Send a ping").click()
        expect(page.locator(".na-app-flash")).to_have_text("ping, pong")  # after the 303, on the page
        page.goto(f"{uploads_server.url}notebook-actions/apps/{CUSTOM}")
        expect(page.get_by_text("This part of the page needs JavaScript.")).to_be_visible()
    finally:
        context.close()
