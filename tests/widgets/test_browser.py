"""The widgets' real ES modules in real Chromium (headless), wired to real widgets.

Chromium must be at /usr/bin/chromium: without it these tests fail, they do not skip.
"""

from __future__ import annotations

import asyncio
import datetime
import gc
import hashlib
import random
import re
import threading
import warnings
from collections.abc import AsyncIterator
from typing import Annotated, Any

import pytest
from playwright.async_api import Locator, Page, expect
from pydantic import Field

from notebook_actions import ActionButton, Form, Progress, UploadedFile, action
from notebook_actions._registry import registry
from notebook_actions.widgets import ActionTrait, ActionWidget

from ._browser import Browser, open_browser
from .conftest import Frontend
from .test_fields import everything

pytestmark = pytest.mark.browser


def browser_model_id(selector: str) -> str:
    return selector.split("'")[1]


def label(page: Page, text: str) -> Locator:
    """The input labelled ``text`` (a required one's label ends in an aria-hidden " *")."""
    return page.get_by_label(re.compile(rf"^{re.escape(text)}( \*)?$"))


@pytest.fixture
async def browser(frontend: Frontend) -> AsyncIterator[Browser]:
    async with open_browser(frontend) as b:
        yield b


async def test_the_form_renders_accessible_controls_from_the_signature(browser: Browser) -> None:
    root = await browser.mount(Form(action(everything)))
    page = browser.page
    form = page.locator(f"{root} form")
    await expect(form).to_have_attribute("aria-busy", "false")
    await expect(page.locator(f"{root} .na-description")).to_have_text("Make a todo.\n\nMore words here.")

    # Every label is bound to its input: get_by_label finds them.
    title = page.get_by_role("textbox", name="Title of the todo", exact=True)  # the * is aria-hidden
    await expect(title).to_have_attribute("type", "text")
    await expect(title).to_have_attribute("aria-required", "true")
    described = await title.get_attribute("aria-describedby")
    assert described is not None
    help_id = described.split()[0]
    await expect(page.locator(f"#{help_id}")).to_have_text("Shown in the list")

    count = label(page, "Count")
    for name, value in {"type": "number", "min": "1", "max": "10", "step": "1", "value": "3"}.items():
        await expect(count).to_have_attribute(name, value)
    await expect(label(page, "Done")).to_have_attribute("type", "checkbox")
    await expect(label(page, "Done")).not_to_be_checked()
    # A few choices: radio buttons in a fieldset whose legend names the group.
    await expect(page.locator(f"{root} fieldset[data-field=color] legend")).to_have_text("Color")
    await expect(page.get_by_role("radio", name="red")).to_be_checked()
    await expect(page.get_by_role("radio", name="green")).not_to_be_checked()
    # Many: a select, with an empty choice for Optional.
    size = label(page, "Size")
    await expect(size.locator("option")).to_have_text(["—", "xs", "s", "m", "l", "xl"])
    await expect(label(page, "Tags")).to_have_attribute("multiple", "")
    await expect(label(page, "Due")).to_have_attribute("type", "date")
    await expect(label(page, "At")).to_have_attribute("type", "datetime-local")
    await expect(label(page, "At")).to_have_value("2024-05-01T09:30")
    await expect(label(page, "Alarm")).to_have_attribute("type", "time")
    token = label(page, "Token")
    await expect(token).to_have_attribute("type", "password")
    await expect(token).to_have_value("")  # the secret default is nowhere on the page
    assert "hunter2" not in await page.content()
    await expect(label(page, "Photos")).to_have_attribute("multiple", "")
    await expect(label(page, "Attachment")).to_have_attribute("type", "file")
    await expect(page.locator(f"{root} textarea[name=notes]")).to_be_visible()
    await expect(label(page, "Email")).to_have_attribute("type", "email")
    await expect(page.get_by_role("button", name="Everything")).to_have_attribute("type", "submit")


async def test_submit_shows_pending_then_the_result_then_resets(browser: Browser) -> None:
    gate = asyncio.Event()

    async def add_todo(title: str, priority: int = 1) -> dict[str, Any]:
        await gate.wait()
        return {"title": title, "priority": priority}

    root = await browser.mount(Form(action(add_todo)))
    page = browser.page
    await label(page, "Title").fill("milk")
    await label(page, "Priority").fill("2")
    submit = page.get_by_role("button", name="Add todo")
    await submit.click()

    form = page.locator(f"{root} form")
    await expect(form).to_have_attribute("aria-busy", "true")
    await expect(submit).to_be_disabled()
    await expect(page.locator(f"{root} .na-status")).to_have_text("Working…")
    await expect(page.get_by_role("button", name="Cancel")).to_be_visible()
    await expect(page.get_by_role("button", name="Cancel")).to_be_focused()  # focus was on the disabled button

    gate.set()
    await expect(page.locator(f"{root} .na-json")).to_have_text('{\n  "title": "milk",\n  "priority": 2\n}')
    await expect(form).to_have_attribute("aria-busy", "false")
    await expect(submit).to_be_enabled()
    await expect(page.get_by_role("button", name="Cancel")).to_be_hidden()
    await expect(page.locator(f"{root} .na-status")).to_have_text("Done.")
    await expect(label(page, "Title")).to_have_value("")  # reset after success
    await expect(label(page, "Priority")).to_have_value("1")


async def test_field_errors_keep_the_values_and_exceptions_show_as_alerts(browser: Browser) -> None:
    def rate(name: str, stars: Annotated[int, Field(ge=1, le=5)]) -> str:
        if name == "boom":
            raise ValueError("the kernel said no")
        return f"{name}: {'*' * stars}"

    root = await browser.mount(Form(action(rate), reset=False))
    page = browser.page
    stars = label(page, "Stars")
    await label(page, "Name").fill("tea")
    await stars.fill("9")
    await page.get_by_role("button", name="Rate").click()

    await expect(stars).to_have_attribute("aria-invalid", "true")
    error_id = (await stars.get_attribute("aria-describedby") or "").split()[-1]
    await expect(page.locator(f"#{error_id}")).to_have_text("Input should be less than or equal to 5")
    await expect(stars).to_be_focused()
    await expect(stars).to_have_value("9")  # kept after a validation error
    await expect(label(page, "Name")).to_have_attribute("aria-invalid", "false")
    await expect(page.locator(f"{root} .na-run [role=alert]")).to_contain_text("Please correct")

    await stars.fill("4")
    await page.get_by_role("button", name="Rate").click()
    await expect(page.locator(f"{root} .na-text")).to_have_text("tea: ****")
    await expect(stars).to_have_attribute("aria-invalid", "false")
    await expect(page.locator(f"#{error_id}")).to_be_hidden()

    await label(page, "Name").fill("boom")
    await page.get_by_role("button", name="Rate").click()
    alert = page.locator(f"{root} .na-run [role=alert]")
    await expect(alert).to_contain_text("ValueError: the kernel said no")
    await alert.locator("summary", has_text="Traceback").click()
    await expect(alert.locator(".na-traceback")).to_contain_text('raise ValueError("the kernel said no")')
    await expect(page.locator(f"{root} .na-status")).to_have_text("Failed.")


async def test_streamed_chunks_and_progress_appear_and_cancel_stops_the_kernel(browser: Browser) -> None:
    step = asyncio.Event()
    stopped: list[str] = []

    async def crunch(rows: int) -> AsyncIterator[Any]:
        try:
            for i in range(rows):
                await step.wait()
                step.clear()
                yield f"row {i}\n"
                yield Progress(i + 1, rows, "rows")
        finally:
            stopped.append("closed")

    root = await browser.mount(Form(action(crunch)))
    page = browser.page
    await label(page, "Rows").fill("100")
    await page.get_by_role("button", name="Crunch").click()
    progress = page.locator(f"{root} .na-progress")
    for expected in ("row 0\n", "row 0\nrow 1\n"):
        step.set()
        await expect(page.locator(f"{root} .na-stream")).to_have_text(expected)
    await expect(progress).to_have_js_property("value", 2)
    await expect(progress).to_have_js_property("max", 100)
    await expect(page.locator(f"{root} .na-progress-label")).to_have_text("rows")

    await page.get_by_role("button", name="Cancel").click()
    await expect(page.locator(f"{root} .na-status")).to_have_text("Cancelled.")
    await expect(page.locator(f"{root} .na-stream")).to_have_text("row 0\nrow 1\n")  # kept
    assert stopped == ["closed"]  # the generator was closed in the kernel
    await expect(page.locator(f"{root} form")).to_have_attribute("aria-busy", "false")

    # A run that finishes: the form resets, and no stale "2 of 2" stays under it.
    await label(page, "Rows").fill("2")
    await page.get_by_role("button", name="Crunch").click()
    run = page.locator(f"{root} .na-run").last
    step.set()
    await expect(run.locator(".na-progress-box")).to_be_visible()
    await expect(run.locator(".na-stream")).to_have_text("row 0\n")
    step.set()
    await expect(page.locator(f"{root} .na-status")).to_have_text("Done.")
    await expect(label(page, "Rows")).to_have_value("")
    await expect(run.locator(".na-stream")).to_have_text("row 0\nrow 1\n")  # the result
    await expect(run.locator(".na-progress-box")).to_be_hidden()


async def test_submissions_queue_and_replies_show_in_order(browser: Browser) -> None:
    gates = [asyncio.Event(), asyncio.Event()]
    calls: list[int] = []

    async def step(n: int) -> str:
        calls.append(n)
        await gates[len(calls) - 1].wait()
        return f"done {n}"

    root = await browser.mount(Form(action(step), reset=False))
    page = browser.page
    await label(page, "N").fill("1")
    await page.locator(f"{root} form").evaluate("f => f.requestSubmit()")
    await label(page, "N").fill("2")
    await page.locator(f"{root} form").evaluate("f => f.requestSubmit()")
    await expect(page.locator(f"{root} .na-status")).to_have_text("Working… (1 queued)")
    await expect(page.locator(f"{root} .na-run[data-state=queued]")).to_have_count(1)
    assert calls == [1]  # the second waits in the kernel's queue

    gates[0].set()
    await expect(page.locator(f"{root} .na-text")).to_have_text("done 1")
    await expect(page.locator(f"{root} .na-status")).to_have_text("Working…")
    gates[1].set()
    await expect(page.locator(f"{root} .na-text")).to_have_text("done 2")
    assert calls == [1, 2]
    kinds = await page.evaluate("window.__received.map(m => m.notebook_actions.kind + ':' + m.notebook_actions.value)")
    assert kinds == ["result:done 1", "result:done 2"]


async def test_concurrent_replies_are_revealed_in_submission_order(browser: Browser) -> None:
    slow = asyncio.Event()

    async def fetch(n: int) -> str:
        if n == 1:
            await slow.wait()
        return f"page {n}"

    root = await browser.mount(Form(action(fetch), concurrent=True, reset=False))
    page = browser.page
    submit = page.get_by_role("button", name="Fetch")
    await label(page, "N").fill("1")
    await submit.click()
    await expect(submit).to_be_enabled()  # concurrent: no waiting for the first
    await label(page, "N").fill("2")
    await submit.click()
    await page.wait_for_function("window.__received.length === 1")  # "page 2" arrived first...
    await expect(page.locator(f"{root} .na-text")).to_have_count(0)  # ...but waits its turn
    slow.set()
    await expect(page.locator(f"{root} .na-text")).to_have_text("page 2")
    await expect(page.locator(f"{root} .na-run")).to_have_count(1)


async def test_a_stale_action_tells_the_user_what_to_rerun(browser: Browser) -> None:
    def greet(name: str) -> str:
        return f"hi {name}"

    root = await browser.mount(Form(action(exported=True)(greet)))
    registry.remove("greet")  # the %%use_server cell, re-run without it
    page = browser.page
    await label(page, "Name").fill("x")
    await page.get_by_role("button", name="Greet").click()
    await expect(page.locator(f"{root} [role=alert]")).to_contain_text("re-run that cell")


async def test_after_a_kernel_restart_pending_and_new_calls_say_what_to_rerun(browser: Browser) -> None:
    never = asyncio.Event()

    async def wait_forever() -> None:
        await never.wait()

    page = browser.page
    form = Form(action(wait_forever))
    root = await browser.mount(form)
    button = await browser.mount(ActionButton(action(wait_forever), label="Wait"))
    await page.get_by_role("button", name="Wait forever").click()
    await expect(page.locator(f"{root} .na-status")).to_have_text("Working…")
    # What ipywidgets does to every model when the kernel restarts: comm_live = false.
    await page.evaluate("id => window.__models[id].emit('comm_live_update')", form.model_id)
    await expect(page.locator(f"{root} [role=alert]")).to_contain_text("re-run the cell that made this widget")
    await expect(page.locator(f"{root} form")).to_have_attribute("aria-busy", "false")
    sent = await page.evaluate("window.__sent.length")
    await page.get_by_role("button", name="Wait forever").click()
    await expect(page.locator(f"{root} [role=alert]")).to_contain_text("lost its kernel")
    assert await page.evaluate("window.__sent.length") == sent  # nothing sent into the void
    # Other widgets' models are told separately (here: still connected).
    await page.get_by_role("button", name="Wait", exact=True).click()
    await expect(page.locator(f"{button} .na-status")).to_have_text("Working…")
    # JupyterLab's comm may instead refuse to send ("Cannot send"): same message, and the
    # pending call is answered too.
    await page.evaluate(
        "id => { window.__models[id].send = () => { throw new Error('Cannot send'); }; }", browser_model_id(button)
    )
    await page.get_by_role("button", name="Wait", exact=True).click()
    await expect(page.locator(f"{button} [role=alert]")).to_contain_text("re-run the cell that made this widget")
    await expect(page.locator(f"{button} .na-status")).to_have_text("Failed.")


def digest(f: UploadedFile, note: str = "") -> list[Any]:
    h = hashlib.sha256()
    f.seek(0)
    while block := f.read(1 << 16):
        h.update(block)
    return [f.name, f.size, h.hexdigest(), note]


async def test_a_large_file_uploads_in_chunks_with_progress(browser: Browser) -> None:
    root = await browser.mount(Form(action(digest), max_upload_bytes=5 << 20, reset=False))
    page = browser.page
    await page.evaluate("""() => {
      window.__labels = [];
      window.__statuses = [];
      new MutationObserver(() => {
        for (const el of document.querySelectorAll('.na-progress-label')) window.__labels.push(el.textContent);
        const status = document.querySelector('.na-status').textContent;
        if (window.__statuses.at(-1) !== status) window.__statuses.push(status);
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    }""")
    data = random.Random(7).randbytes((4 << 20) + (1 << 19) + 3)  # 4.5 MiB and a bit: chunk order shows
    await label(page, "F").set_input_files({"name": "data.bin", "mimeType": "application/octet-stream", "buffer": data})
    await label(page, "Note").fill("n")
    await page.get_by_role("button", name="Digest").click()
    expected = ["data.bin", len(data), hashlib.sha256(data).hexdigest(), "n"]
    await expect(page.locator(f"{root} .na-json")).to_have_text(
        "[\n" + ",\n".join(f"  {v!r}".replace("'", '"') for v in expected) + "\n]"
    )

    sent = await page.evaluate("window.__sent.map(m => [m.content.notebook_actions.kind, m.sizes])")
    uploads = [sizes for kind, sizes in sent if kind == "upload"]
    assert [s[0] for s in uploads] == [1 << 20] * 4 + [len(data) - (4 << 20)]
    assert [kind for kind, _ in sent] == ["upload"] * 5 + ["invoke"]
    labels = await page.evaluate("window.__labels")
    assert any(label.startswith("Uploading data.bin: 1.0 MiB of 4.5 MiB") for label in labels), labels
    # Once every byte is there, the kernel is working on it: the status says so, not "Uploading".
    statuses = await page.evaluate("window.__statuses")
    assert statuses[-3:] == ["Uploading…", "Processing…", "Done."], statuses

    # Over the limit: a clear error next to the input, and nothing sent at all.
    await label(page, "F").set_input_files(
        {"name": "huge.bin", "mimeType": "application/octet-stream", "buffer": b"x" * (6 << 20)}
    )
    await page.get_by_role("button", name="Digest").click()
    file_input = label(page, "F")
    await expect(file_input).to_have_attribute("aria-invalid", "true")
    await expect(page.locator(f"{root} .na-field-error").first).to_contain_text(
        "huge.bin is 6.0 MiB, larger than the upload limit of 5.0 MiB"
    )
    assert await page.evaluate("window.__sent.length") == len(sent)


def _files_held() -> int:
    """Uploaded files this (in-process) kernel holds open: in its upload store, or given to an action."""
    with warnings.catch_warnings():
        # Collecting finalizes whatever earlier tests left to the collector (a socket of the
        # harness's server, say): their ResourceWarnings are not what this count is about.
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    return sum(isinstance(o, UploadedFile) and not o.file.closed for o in gc.get_objects())


async def test_an_aborted_upload_is_dropped_in_the_kernel_at_once(browser: Browser) -> None:
    release = threading.Event()  # the action runs on the kernel's loop, not the test's

    async def slow() -> str:
        while not release.is_set():
            await asyncio.sleep(0.01)
        return "slept"

    def take(f: UploadedFile) -> int:
        return f.size

    class Uploader(ActionWidget):
        slow = ActionTrait()
        take = ActionTrait()
        _esm = """
        export default {
          render({ model, el }) {
            const slow = callAction(model, "slow", {});
            const controller = new AbortController();
            const blob = new Blob([new Uint8Array(4 << 20)]);
            callAction(model, "take", {}, {
              files: { f: blob }, chunkSize: 1 << 20, signal: controller.signal,
              onUploadProgress: (p) => { if (p.loaded > 0) controller.abort(); },
            }).catch((e) => { window.__aborted = e.kind; });
            slow.then((value) => { window.__slow = value; });
          },
        };
        """

    assert _files_held() == 0
    await browser.mount(Uploader(slow=action(slow), take=action(take)))
    page = browser.page
    await page.wait_for_function("window.__aborted !== undefined")
    assert await page.evaluate("window.__aborted") == "cancelled"
    sent = await page.evaluate("window.__sent.map(m => m.content.notebook_actions)")
    uploads = {m["id"] for m in sent if m["kind"] == "upload"}
    assert len(uploads) == 1
    assert [m["id"] for m in sent if m["kind"] == "cancel"] == list(uploads)
    for _ in range(100):  # the cancel is on its way to the kernel
        if not _files_held():
            break
        await asyncio.sleep(0.02)
    assert _files_held() == 0
    # The call made before goes on, on the same connection.
    assert await page.evaluate("window.__slow") is None
    release.set()
    await page.wait_for_function("window.__slow !== undefined", timeout=10_000)
    assert await page.evaluate("window.__slow") == "slept"


async def test_the_action_button_and_a_custom_widget_in_two_lines(browser: Browser) -> None:
    clicks: list[str] = []

    def like(post: str) -> str:
        clicks.append(post)
        return f"liked {post} ({len(clicks)})"

    like_action = action(like)
    root = await browser.mount(ActionButton(like_action, args={"post": "p1"}, label="Like"))
    page = browser.page
    button = page.get_by_role("button", name="Like")
    await button.click()
    await expect(page.locator(f"{root} .na-text")).to_have_text("liked p1 (1)")
    await expect(page.locator(f"{root} .na-status")).to_have_text("Done.")

    class Shout(ActionWidget):
        shout = ActionTrait()
        _esm = """
        export default {
          render({ model, el }) {
            const button = document.createElement("button");
            button.className = "na-button na-primary"; // the Form's look, as docs/widgets.md says
            button.textContent = "Shout";
            button.onclick = async () => {
              const text = await callAction(model, "shout", { text: "hello" });
              el.querySelector("output").textContent = text;
            };
            const plain = document.createElement("button");
            plain.textContent = "Plain";
            el.append(button, document.createElement("output"), plain);
          },
        };
        """

    def shout(text: str) -> str:
        return text.upper() + "!"

    custom = await browser.mount(Shout(shout=action(shout)))
    await page.locator(f"{custom} button.na-button").click()
    await expect(page.locator(f"{custom} output")).to_have_text("HELLO!")

    # The public classes give the custom buttons the Form's look; a plain button keeps the page's.
    form = await browser.mount(Form(like_action))
    look = "(el) => { const s = getComputedStyle(el); return [s.backgroundColor, s.color, s.borderRadius]; }"
    primary = await page.locator(f"{form} button.na-submit").evaluate(look)
    assert await page.locator(f"{custom} button.na-primary").evaluate(look) == primary
    assert await page.locator(f"{custom} button", has_text="Plain").evaluate(look) != primary
    assert await page.locator(f"{root} button.na-action-button").evaluate(look) != primary  # na-button only


async def test_the_js_helper_streams_cancels_and_rejects_with_action_errors(browser: Browser) -> None:
    async def ticks(n: int) -> AsyncIterator[Any]:
        for i in range(n):
            yield i
            yield Progress(i + 1, n)
            await asyncio.sleep(0.01 if n < 10 else 10)

    def picky(n: int) -> int:
        return n

    class Probe(ActionWidget):
        ticks = ActionTrait()
        picky = ActionTrait()
        _esm = """
        export default {
          async render({ model, el }) {
            const seen = [];
            const chunks = await callAction(model, "ticks", { n: 3 }, {
              onChunk: (value) => seen.push(["chunk", value]),
              onProgress: (p) => seen.push(["progress", p.value, p.total]),
            });
            const controller = new AbortController();
            const slow = callAction(model, "ticks", { n: 50 }, {
              signal: controller.signal, onChunk: () => controller.abort(),
            }).catch((e) => [e.name, e.kind]);
            const invalid = await callAction(model, "picky", { n: "x" }).catch((e) => [e.kind, e.errors[0].field]);
            const missing = await callAction(model, "nothing", {}).catch((e) => [e.kind, e.message]);
            window.__probe = { seen, chunks, cancelled: await slow, invalid, missing };
          },
        };
        """

    await browser.mount(Probe(ticks=action(ticks), picky=action(picky)))
    page = browser.page
    await page.wait_for_function("window.__probe !== undefined")
    probe = await page.evaluate("window.__probe")
    assert probe["chunks"] == [0, 1, 2]
    assert probe["seen"] == [
        ["chunk", 0],
        ["progress", 1, 3],
        ["chunk", 1],
        ["progress", 2, 3],
        ["chunk", 2],
        ["progress", 3, 3],
    ]
    assert probe["cancelled"] == ["ActionError", "cancelled"]
    assert probe["invalid"] == ["invalid", "n"]
    assert probe["missing"][0] == "not_found" and "holds no action" in probe["missing"][1]


MARKUP = """
<form>
  <label for="t">Title</label> <input id="t" name="title">
  <fieldset><legend>Tags</legend>
    <label><input type="checkbox" name="tags" value="home" checked> home</label>
    <label><input type="checkbox" name="tags" value="work" checked> work</label>
  </fieldset>
  <label for="n">Copies</label> <input id="n" name="copies"> <span data-error-for="copies"></span>
  <button>Save</button> <button data-action="archive">Archive</button>
</form>
"""


async def test_your_own_markup_maps_inputs_by_name_and_buttons_to_actions(browser: Browser) -> None:
    def save(title: str, tags: list[str], copies: int = 1) -> str:
        return f"saved {title} {tags} x{copies}"

    def archive(title: str) -> bytes:
        return f"archived {title}".encode()

    form = Form(action(save), html=MARKUP, actions={"archive": action(archive)}, reset=False)
    root = await browser.mount(form)
    page = browser.page
    await page.get_by_label("Title").fill("notes")
    await page.get_by_label("Copies").fill("two")
    await page.get_by_role("button", name="Save").click()
    # The markup's own error slot is used, and tied to the input for screen readers.
    slot = page.locator(f"{root} [data-error-for=copies]")
    await expect(slot).to_have_text("Enter a whole number.")  # not pydantic's words for a programmer
    await expect(page.get_by_label("Copies")).to_have_attribute("aria-invalid", "true")
    assert (await slot.get_attribute("id") or "-") in (
        await page.get_by_label("Copies").get_attribute("aria-describedby") or ""
    )

    await page.get_by_label("Copies").fill("3")
    await page.get_by_role("button", name="Save").click()
    # Repeated names arrive as a list (FormData semantics).
    await expect(page.locator(f"{root} .na-text")).to_have_text("saved notes ['home', 'work'] x3")

    await page.get_by_role("button", name="Archive").click()  # the other action; extra fields dropped
    await expect(page.locator(f"{root} a.na-download")).to_have_text("Download result (14 B)")


async def test_html_results_and_a_changed_action_rebuild_the_form(browser: Browser) -> None:
    def badge(text: str) -> str:
        return f"<b class='badge'>{text}</b>"

    def shout(words: str, times: int = 2) -> str:
        return words.upper() * times

    form = Form(action(badge), result_view="html")
    root = await browser.mount(form)
    page = browser.page
    await label(page, "Text").fill("new")
    await page.get_by_role("button", name="Badge").click()
    await expect(page.locator(f"{root} .na-html b.badge")).to_have_text("new")

    form.action = action(shout)  # in the kernel: the view rebuilds from the new signature
    await expect(label(page, "Times")).to_have_value("2")
    await expect(page.get_by_role("button", name="Shout")).to_be_visible()
    await expect(label(page, "Text")).to_have_count(0)


async def test_labels_keep_acronyms(browser: Browser) -> None:
    def summarise_csv(text: str) -> str:
        return text

    def to_json(text: str) -> str:
        return text

    root = await browser.mount(Form(action(summarise_csv), actions={"as_json": action(to_json)}))
    page = browser.page
    await expect(page.locator(f"{root} form")).to_have_attribute("aria-label", "Summarise CSV")
    await expect(page.locator(f"{root} button.na-submit")).to_have_text(["Summarise CSV", "As JSON"])


# Every spinner added to the page, by the widget it was added in: installed before any click.
WATCH_SPINNERS = """() => {
  window.__spinners = [];
  new MutationObserver((records) => {
    for (const record of records) {
      for (const node of record.addedNodes) {
        if (node instanceof Element && (node.matches(".na-spinner") || node.querySelector(".na-spinner"))) {
          window.__spinners.push(node.closest(".widget")?.dataset.model ?? "?");
        }
      }
    }
  }).observe(document.body, { subtree: true, childList: true });
}"""


async def test_pending_shows_at_once_and_the_spinner_only_once_a_call_takes_a_while(browser: Browser) -> None:
    gate = asyncio.Event()

    def quick(n: int) -> int:
        return n

    async def slow(n: int) -> int:
        await gate.wait()
        return n

    page = browser.page
    # The page's clock moves only when the test moves it: "a while" is not a race.
    await page.clock.install(time=datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc))
    await page.clock.pause_at(datetime.datetime(2026, 1, 1, 0, 0, 1, tzinfo=datetime.timezone.utc))
    fast_root = await browser.mount(Form(action(quick)))
    slow_root = await browser.mount(Form(action(slow)))
    await page.evaluate(WATCH_SPINNERS)

    # A quick call: done, and its spinner's time passes after it; no spinner was ever added.
    await page.locator(f"{fast_root} input[name=n]").fill("1")
    await page.locator(f"{fast_root} button.na-submit").click()
    await expect(page.locator(f"{fast_root} .na-text")).to_have_text("1")
    await page.clock.run_for(1000)
    assert await page.evaluate("window.__spinners") == []

    # A slow one: pending at once (aria-busy, the button disabled, the status), no spinner
    # until 150 ms have passed, then one until it is done.
    await page.locator(f"{slow_root} input[name=n]").fill("2")
    await page.locator(f"{slow_root} button.na-submit").click()
    await expect(page.locator(f"{slow_root} form")).to_have_attribute("aria-busy", "true")
    await expect(page.locator(f"{slow_root} button.na-submit")).to_be_disabled()
    await expect(page.locator(f"{slow_root} .na-status")).to_have_text("Working…")
    await page.clock.run_for(149)
    assert await page.evaluate("window.__spinners") == []
    await page.clock.run_for(2)
    await expect(page.locator(f"{slow_root} .na-spinner")).to_be_visible()
    gate.set()
    await expect(page.locator(f"{slow_root} .na-status")).to_have_text("Done.")
    await expect(page.locator(f"{slow_root} .na-spinner")).to_have_count(0)
    assert await page.evaluate("window.__spinners") == [browser_model_id(slow_root)]
