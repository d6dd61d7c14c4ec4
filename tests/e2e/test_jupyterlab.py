"""The example notebooks in JupyterLab, used as a person would: run all, fill in, submit, look.

Each test opens one notebook of a fresh copy of notebooks/ in a real JupyterLab, runs all its
cells, drives its forms in Chromium and asserts what is on the screen.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import WebSocket, expect

from ._jupyter import Jupyter, screenshot
from ._servers import API_KEY, REPO
from ._todo import exercise as exercise_todo_app
from ._widgets import Form

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

# The README's screenshot: rewritten only when asked (`UPDATE_SCREENSHOTS=1 make test`), so
# that a test run leaves the checkout as it found it; every run keeps one in test-output/.
QUICKSTART_SCREENSHOT = REPO / ("docs" if os.environ.get("UPDATE_SCREENSHOTS") else "test-output")
QUICKSTART_SCREENSHOT /= "screenshot-quickstart.png"


# The execution count of the notebook cell that holds an element.
EXECUTION_COUNT = """(el) => {
  const cells = window.jupyterapp.shell.currentWidget.content.widgets;
  return cells.find((cell) => cell.node.contains(el)).model.executionCount;
}"""


def result_json(form: Form) -> object:
    expect(form.result.locator("pre.na-json")).to_be_visible()
    return json.loads(form.result.locator("pre.na-json").inner_text())


def assert_was_pending(form: Form) -> None:
    """While the action ran, the form said so: aria-busy, submit disabled, a status."""
    states = form.states()
    pending = [s for s in states if s["busy"] == "true"]
    assert pending, f"the form never showed a pending state: {states}"
    assert all(s["disabled"] for s in pending), f"submit stayed enabled while pending: {states}"
    assert any(s["status"].startswith("Working") or s["status"].startswith("Uploading") for s in pending), states
    assert states[-1]["busy"] == "false" and not states[-1]["disabled"], f"still pending at the end: {states}"


def test_quickstart(lab: Jupyter) -> None:
    lab.open("quickstart.ipynb")
    lab.run_all()
    page = lab.page

    # The exported action's form, built from the signature.
    add_todo = lab.form("add_todo")
    expect(add_todo.field("title")).to_be_visible()
    expect(add_todo.choice("priority", "normal")).to_be_checked()  # the default
    expect(add_todo.widget.locator(".na-description")).to_have_text("Add an item to the to-do list.")

    # Bad input: an empty title and the field says why.
    add_todo.record()
    add_todo.submit()
    expect(add_todo.error("title")).to_be_visible()
    expect(add_todo.error("title")).to_have_text("This field is required.")
    expect(add_todo.field("title")).to_have_attribute("aria-invalid", "true")
    expect(add_todo.alert).to_contain_text("Please correct the highlighted fields.")
    expect(add_todo.status).to_have_text("Failed.")
    assert_was_pending(add_todo)

    # Good input: pending while it runs, then the result; the errors are gone.
    add_todo.record()
    add_todo.fill(title="Buy milk", priority="high", due="2026-12-01")
    add_todo.submit()
    expect(add_todo.status).to_have_text("Done.")
    value = result_json(add_todo)
    assert isinstance(value, dict)
    assert value["title"] == "Buy milk" and value["priority"] == "high" and value["due"] == "2026-12-01", value
    expect(add_todo.error("title")).to_be_hidden()
    expect(add_todo.field("title")).to_have_attribute("aria-invalid", "false")
    expect(add_todo.field("title")).to_have_value("")  # the form resets after a success
    assert_was_pending(add_todo)

    # The inline action, closing over "Hello" in the kernel; Enter in its field submits it.
    greet = lab.form("greet")
    name = greet.field("name")
    name.fill("Ann")
    name.press("Enter")
    expect(greet.result).to_have_text("Hello, Ann!")
    shown = greet.widget.evaluate("(el) => el.outerHTML")
    assert "Hello" not in shown.replace("Hello, Ann!", ""), "the closed-over greeting is in the widget"

    # Shift+Enter and Ctrl+Enter typed in the field stay in the form: the notebook does not
    # re-run the cell (which would replace the form). The Enter after them submits "Bob"; the
    # kernel handles messages in order, so by the time Bob's greeting shows, a re-run they
    # had started would have changed the cell's execution count and replaced the widget.
    widget = greet.widget.element_handle()
    count = widget.evaluate(EXECUTION_COUNT)
    name.fill("Bob")
    name.press("Shift+Enter")
    name.press("Control+Enter")
    name.press("Enter")
    expect(greet.result).to_have_text("Hello, Bob!")
    assert widget.evaluate("(el) => el.isConnected"), "the form was replaced: the cell ran again"
    assert widget.evaluate(EXECUTION_COUNT) == count, "the cell ran again"
    expect(name).to_be_focused()

    # The curl command the notebook prints for this kernel works, as printed.
    printed = page.locator(".jp-OutputArea-output").filter(has_text="curl -X POST")
    expect(printed).to_contain_text(f"{lab.server.url}notebook-actions/api/kernels/")
    command = printed.inner_text().strip()
    env = {**os.environ, "JUPYTER_TOKEN": lab.server.token}
    done = subprocess.run(["bash", "-c", f"{command} --silent --show-error"], env=env, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    over_http = json.loads(done.stdout)["value"]
    assert over_http["title"] == "Buy milk" and over_http["priority"] == "high", over_http

    add_todo.widget.scroll_into_view_if_needed()
    screenshot(page, "test_quickstart")
    QUICKSTART_SCREENSHOT.parent.mkdir(exist_ok=True)
    add_todo_cell = page.locator(".jp-Cell").filter(has=add_todo.widget)
    add_todo_cell.screenshot(path=str(QUICKSTART_SCREENSHOT))


def test_quickstart_after_kernel_restart_the_old_form_says_what_to_rerun(lab: Jupyter) -> None:
    lab.open("quickstart.ipynb")
    lab.run_all()
    add_todo = lab.form("add_todo")
    add_todo.fill(title="before the restart")
    add_todo.submit()
    expect(add_todo.status).to_have_text("Done.")

    lab.restart_kernel()

    add_todo.fill(title="after the restart")
    add_todo.submit()
    expect(add_todo.alert).to_be_visible()
    expect(add_todo.alert).to_contain_text(re.compile(r"re-?run|run the cell|run .* again", re.IGNORECASE))
    expect(add_todo.status).to_have_text("Failed.")
    screenshot(lab.page, "test_quickstart_after_kernel_restart-stale-form")

    # Doing what it says brings a working form back.
    lab.run_all()
    add_todo = lab.form("add_todo")
    expect(add_todo.alert).to_have_count(0)
    add_todo.fill(title="after re-running")
    add_todo.submit()
    expect(add_todo.status).to_have_text("Done.")
    value = result_json(add_todo)
    assert isinstance(value, dict) and value["title"] == "after re-running", value


def test_todo_app(lab: Jupyter) -> None:
    lab.open("todo_app.ipynb")
    lab.run_all()
    todos = exercise_todo_app(lab.page, "test_todo_app")
    # The notebook's owner gets the row's error with its traceback.
    expect(todos.widget.get_by_role("alert").locator(".na-traceback")).to_have_count(1)


def test_uploads_summarise_a_20mb_csv(lab: Jupyter, tmp_path: Path) -> None:
    rows = 0
    total = 0
    lines = ["n,label"]
    size = len("n,label\n")
    while size < 20 * 1024 * 1024:
        line = f"{rows},row{rows}"
        lines.append(line)
        size += len(line) + 1
        total += rows
        rows += 1
    csv = tmp_path / "big.csv"
    csv.write_text("\n".join(lines) + "\n")
    assert csv.stat().st_size == size

    lab.open("uploads_and_streaming.ipynb")
    lab.run_all()
    summarise = lab.form("summarise_csv")
    summarise.record()
    summarise.field("data").set_input_files(csv)
    summarise.submit()
    expect(summarise.status).to_have_text("Done.", timeout=120_000)
    value = result_json(summarise)
    assert value == {
        "file": "big.csv",
        "bytes": size,
        "rows": rows,
        "columns": ["n", "label"],
        "means": {"n": round(total / rows, 3)},
    }
    assert_was_pending(summarise)
    states = summarise.states()
    assert any(s["status"].startswith("Uploading") for s in states), f"no upload progress shown: {states}"
    assert any(re.search(r"Uploading big\.csv: .* of 20 MiB", s["progress"]) for s in states), states


def test_streamed_progress_field_errors_and_cancel(lab: Jupyter) -> None:
    lab.open("uploads_and_streaming.ipynb")
    lab.run_all()
    crunch = lab.form("crunch")

    # Out of range: the field says so, nothing runs.
    crunch.fill(steps="0")
    crunch.submit()
    expect(crunch.error("steps")).to_contain_text("greater than or equal to 1")
    expect(crunch.field("steps")).to_have_attribute("aria-invalid", "true")

    # A run that streams its progress: pending, then each step, then done.
    crunch.record()
    crunch.fill(steps="5", seconds_per_step="0.4")
    crunch.submit()
    expect(crunch.form).to_have_attribute("aria-busy", "true")
    expect(crunch.submit_button).to_be_disabled()
    expect(crunch.cancel).to_be_visible()
    expect(crunch.progress).to_have_text(re.compile(r"step [1-5] of 5"))
    expect(crunch.status).to_have_text("Done.")
    expect(crunch.stream).to_contain_text("done")
    expect(crunch.cancel).to_be_hidden()
    expect(crunch.error("steps")).to_be_hidden()
    progress = [s["progress"] for s in crunch.states()]
    seen = sorted({int(m.group(1)) for p in progress if (m := re.search(r"step (\d+) of 5", p))})
    assert len(seen) >= 2 and seen[-1] == 5, f"progress did not stream step by step: {progress}"
    assert_was_pending(crunch)

    # A long run, cancelled: the form says so and is ready again.
    crunch.fill(steps="1000", seconds_per_step="0.2")
    crunch.submit()
    expect(crunch.progress).to_have_text(re.compile(r"step ([2-9]|\d\d+) of 1000"))
    screenshot(lab.page, "test_streamed_progress_field_errors_and_cancel-running")
    crunch.cancel.click()
    expect(crunch.status).to_have_text("Cancelled.")
    expect(crunch.form).to_have_attribute("aria-busy", "false")
    expect(crunch.submit_button).to_be_enabled()
    expect(crunch.run).to_have_attribute("data-state", "cancelled")


def test_secrets_never_reach_the_page(lab: Jupyter) -> None:
    received: list[bytes] = []

    def watch(socket: WebSocket) -> None:
        socket.on("framereceived", lambda frame: received.append(frame if isinstance(frame, bytes) else frame.encode()))

    lab.page.on("websocket", watch)
    lab.open("secrets.ipynb")
    lab.run_all()
    page = lab.page

    # The notebook's own checks, run in the kernel, printed as the reader sees them.
    for where in ("widget state", "action description", "error reply", "repr"):
        expect(lab.notebook).to_contain_text(re.compile(rf"{where}\s+contains the key: False"))

    # "City *" left empty is a missing city, as the asterisk says: the field says so and
    # forecast does not run (it would have answered for a city called "").
    forecast = lab.form("forecast")
    forecast.submit()
    expect(forecast.error("city")).to_have_text("This field is required.")
    expect(forecast.field("city")).to_have_attribute("aria-invalid", "true")
    expect(forecast.alert).to_have_text("Please correct the highlighted fields.")
    expect(forecast.status).to_have_text("Failed.")
    forecast.fill(city="Oslo")
    forecast.submit()
    expect(forecast.result).to_contain_text('"temp_c": 11.5')
    forecast.fill(city="Atlantis")
    forecast.submit()
    expect(forecast.alert).to_contain_text("LookupError")
    expect(forecast.alert).to_contain_text("the weather API knows no city called 'Atlantis'")

    check_key = lab.form("check_key")
    expect(check_key.field("key")).to_have_attribute("type", "password")
    check_key.fill(key="a wrong key")
    check_key.submit()
    expect(check_key.result).to_have_text("false")
    check_key.fill(key=API_KEY)
    check_key.submit()
    expect(check_key.result).to_have_text("true")
    expect(check_key.field("key")).to_have_value("")  # not kept in the form after it was used

    # Saved with widget state (the setting is on for this server): no key, no results.
    lab.command("docmanager:save")
    page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty")
    saved = json.dumps(lab.server.api("GET", "api/contents/secrets.ipynb")["content"])
    assert API_KEY not in saved, "the API key is in the saved notebook"
    widget_state = json.dumps(lab.server.api("GET", "api/contents/secrets.ipynb")["content"]["metadata"]["widgets"])
    assert "check_key" in widget_state and "forecast" in widget_state, "the widget state was not saved"
    assert "temp_c" not in widget_state and "Atlantis" not in widget_state, "a result is in the saved widget state"

    html = page.content()
    values = page.evaluate("() => Array.from(document.querySelectorAll('input, textarea'), (el) => el.value)")
    assert API_KEY not in html, "the API key is in the page's DOM"
    assert all(API_KEY not in value for value in values), "the API key is in a form control"
    frames = b"".join(received)
    assert frames, "no websocket frames were seen"
    # What the browser sent (the key typed into check_key) is not what it received.
    assert API_KEY.encode() not in frames, "the API key reached the browser over the kernel websocket"


def test_custom_widget_calls_an_action(lab: Jupyter) -> None:
    lab.open("custom_widget.ipynb")
    lab.run_all()
    page = lab.page
    widget = page.locator(".jp-OutputArea-output").filter(has=page.locator("button.vote-up"))
    tally = widget.locator("output")
    widget.locator("button.vote-up").click()
    expect(tally).to_have_text("1 up, 0 down")
    widget.locator("button.vote-up").click()
    expect(tally).to_have_text("2 up, 0 down")
    widget.locator("button.vote-down").click()
    expect(tally).to_have_text("2 up, 1 down")
