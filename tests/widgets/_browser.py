"""The real ES modules in real Chromium, talking to the real widgets in this process.

A page served from loopback holds a small stand-in for anywidget's ``model``
(get/set/on/off/send/save_changes). ``model.send`` reaches the Python widget through
Playwright's ``expose_function`` as the exact custom message the kernel would get;
what the widget sends back is delivered to the page as ``msg:custom`` with its
buffers, in order. Only Jupyter's transport is left out.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import threading
from collections.abc import AsyncIterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from playwright.async_api import Page, async_playwright

from notebook_actions.widgets import ActionWidget

from .._chromium import CHROMIUM, CHROMIUM_ARGS
from .conftest import Frontend

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>notebook-actions widgets</title></head>
<body>
<script>
window.__sent = [];
window.__received = [];
window.__errors = [];
window.addEventListener("error", (e) => __errors.push(String(e.message)));
window.addEventListener("unhandledrejection", (e) => __errors.push(String(e.reason)));

function toBase64(buffer) {
  const bytes = buffer instanceof ArrayBuffer ? new Uint8Array(buffer)
    : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}
function fromBase64(text) {
  const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  return new DataView(bytes.buffer);
}

// The part of anywidget's model a widget module sees.
class FakeModel {
  constructor(id, state) {
    this.id = id;
    this.state = state;
    this.listeners = [];
    this.outbox = Promise.resolve();
  }
  get(name) { return this.state[name]; }
  set(name, value) { this.state[name] = value; this.emit(`change:${name}`, value); }
  save_changes() {}
  on(event, callback) { this.listeners.push([event, callback]); }
  off(event, callback) {
    this.listeners = this.listeners.filter(([e, c]) => (event && e !== event) || (callback && c !== callback));
  }
  emit(event, ...args) {
    for (const [e, c] of this.listeners.slice()) if (e === event) c(...args);
  }
  send(content, callbacks, buffers = []) {
    window.__sent.push({ model: this.id, content, sizes: buffers.map((b) => b.byteLength) });
    const encoded = buffers.map(toBase64);
    // In order, like a websocket.
    this.outbox = this.outbox.then(() => window.__kernelSend(this.id, content, encoded));
  }
}

window.__models = {};
window.__mount = async (id, state) => {
  const model = new FakeModel(id, state);
  window.__models[id] = model;
  const style = document.createElement("style");
  style.textContent = state._css || "";
  document.head.append(style);
  const url = URL.createObjectURL(new Blob([state._esm], { type: "text/javascript" }));
  const module = await import(url);
  const definition = typeof module.default === "function" ? await module.default() : module.default;
  await definition.initialize?.({ model });
  const el = document.createElement("div");
  el.className = "widget";
  el.dataset.model = id;
  document.body.append(el);
  await definition.render({ model, el });
};
window.__deliver = (id, message, buffers) => {
  const model = window.__models[id];
  if (message.method === "custom") {
    window.__received.push(message.content);
    model.emit("msg:custom", message.content, buffers.map(fromBase64));
  } else if (message.method === "update") {
    for (const [key, value] of Object.entries(message.state)) model.set(key, value);
  }
};
</script>
</body></html>
"""


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = PAGE.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve_page() -> Any:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class Browser:
    """One page; ``mount`` shows a widget in it, wired to the widget in this process."""

    def __init__(self, page: Page, frontend: Frontend) -> None:
        self.page = page
        self.frontend = frontend
        self.widgets: dict[str, ActionWidget] = {}
        self.errors: list[str] = []
        self._outbox: asyncio.Queue[tuple[str, dict[str, Any], list[str]] | None] = asyncio.Queue()
        frontend.listeners.append(self._from_kernel)

    def _from_kernel(self, model_id: str, message: dict[str, Any], buffers: list[bytes]) -> None:
        if model_id in self.widgets and message.get("msg_type") == "comm_msg":
            payload = {k: v for k, v in message.items() if k != "msg_type"}
            self._outbox.put_nowait((model_id, payload, [base64.b64encode(b).decode() for b in buffers]))

    async def _deliver(self) -> None:
        while (item := await self._outbox.get()) is not None:
            await self.page.evaluate("([id, message, buffers]) => window.__deliver(id, message, buffers)", list(item))

    def _to_kernel(self, model_id: str, content: Any, buffers: list[str]) -> None:
        try:
            widget = self.widgets[model_id]
            data = {"data": {"method": "custom", "content": content}}
            widget._handle_msg({"content": data, "buffers": [base64.b64decode(b) for b in buffers]})
        except Exception as err:  # shown by the test, not swallowed by Playwright
            self.errors.append(repr(err))
            raise

    async def mount(self, widget: ActionWidget) -> str:
        """Render ``widget`` with the state its comm opened with; returns its CSS selector."""
        self.widgets[widget.model_id] = widget
        await self.page.evaluate(
            "([id, state]) => window.__mount(id, state)", [widget.model_id, self.frontend.state(widget)]
        )
        return f".widget[data-model='{widget.model_id}']"

    async def page_errors(self) -> list[str]:
        return self.errors + list(await self.page.evaluate("window.__errors"))


@contextlib.asynccontextmanager
async def open_browser(frontend: Frontend) -> AsyncIterator[Browser]:
    with serve_page() as url:
        async with async_playwright() as playwright:
            chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = await chromium.new_page()
                browser = Browser(page, frontend)
                await page.expose_function("__kernelSend", browser._to_kernel)
                await page.goto(url)
                deliver = asyncio.ensure_future(browser._deliver())
                try:
                    yield browser
                    assert await browser.page_errors() == []
                finally:
                    browser._outbox.put_nowait(None)
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(deliver, 5)
            finally:
                await chromium.close()
