// notebook-actions over HTTP: the model an app page gives each widget.
//
// On an app page (docs/apps.md) there is no kernel per visitor and no widget comm. Each
// widget gets an `HttpModel` instead of anywidget's model: its state is the widget's saved
// state, and what the widget's client (client.js) sends on it, the same protocol messages
// it sends over a comm in JupyterLab, goes to the served pool over HTTP:
//
//   invoke  -> POST {invoke_url}{action id}: JSON, urlencoded or (with files) multipart;
//              the answer comes back as the protocol's replies (a result, chunks and
//              progress from server-sent events, invalid arguments, errors)
//   cancel  -> the request is aborted, and the server cancels the call in the kernel
//   upload  -> the chunks are kept in the page until the invoke that names them, which
//              sends the file in its multipart body
//
// So the widgets' own ES modules run unchanged.

/** @typedef {import("@anywidget/types").AnyModel} AnyModel */
/** @typedef {(...args: any[]) => void} Listener */

const ENVELOPE = "notebook_actions";
/** The key of a view's render announcements among its custom messages (see view.js). */
const ANNOUNCE = "notebook_actions_view";

/** @returns {Record<string, string>} the XSRF header jupyter-server checks on a logged-in browser's POST */
function xsrfHeader() {
  const found = document.cookie.match(/(?:^|;\s*)_xsrf=([^;]*)/);
  return found ? { "X-XSRFToken": decodeURIComponent(found[1]) } : {};
}

/** A widget's model on the page: its saved state, events, and `send` over HTTP. */
export class HttpModel {
  /**
   * @param {Record<string, any>} state
   * @param {HttpTransport} transport
   */
  constructor(state, transport) {
    /** @type {Record<string, any>} */
    this.state = { ...state };
    this.transport = transport;
    /** @type {Map<string, Set<Listener>>} */
    this.listeners = new Map();
    this.widget_manager = {
      get_model: () => Promise.reject(new Error("an app page has no widget manager: widgets stand alone")),
    };
  }

  /** @param {string} key */
  get(key) {
    return this.state[key];
  }

  /** @param {string} key @param {any} value */
  set(key, value) {
    if (this.state[key] === value) return;
    this.state[key] = value;
    this.emit(`change:${key}`);
    this.emit("change");
  }

  /** Changes stay in the page: there is no kernel of this visitor to save them to. */
  save_changes() {}

  /** @param {string} event @param {Listener} callback */
  on(event, callback) {
    let listeners = this.listeners.get(event);
    if (!listeners) this.listeners.set(event, (listeners = new Set()));
    listeners.add(callback);
  }

  /** @param {string | null} [event] @param {Listener | null} [callback] */
  off(event, callback) {
    if (!event) {
      this.listeners.clear();
    } else if (!callback) {
      this.listeners.delete(event);
    } else {
      this.listeners.get(event)?.delete(callback);
    }
  }

  /** @param {string} event @param {...any} args */
  emit(event, ...args) {
    for (const listener of Array.from(this.listeners.get(event) ?? [])) listener(...args);
  }

  /** @param {any} content @param {unknown} [_callbacks] @param {ArrayBuffer[]} [buffers] */
  send(content, _callbacks, buffers = []) {
    if (content !== null && typeof content === "object" && ENVELOPE in content) {
      this.transport.receive(this, content[ENVELOPE], buffers);
    }
  }

  /** A protocol reply, as the kernel's comm would have delivered it. @param {any} reply @param {ArrayBuffer[]} [buffers] */
  reply(reply, buffers = []) {
    this.emit(
      "msg:custom",
      { [ENVELOPE]: reply },
      buffers.map((b) => new DataView(b)),
    );
  }
}

/** @typedef {{ name: string, type: string, parts: ArrayBuffer[], size: number }} PendingUpload */

/** @param {string} text @returns {ArrayBuffer} */
function fromBase64(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes.buffer;
}

/**
 * A final reply from an HTTP error body.
 * @param {string} id @param {number} status @param {any} body
 */
function errorReply(id, status, body) {
  const message = String(body?.message ?? `the server answered ${status}`);
  if (status === 422) return { kind: "invalid", id, errors: body?.errors ?? [] };
  if (status === 404) return { kind: "not_found", id, message };
  return { kind: "error", id, type: String(body?.type ?? `HTTP ${status}`), message, digest: body?.digest ?? "" };
}

/**
 * Form values as an HTML form sends them (a list: the field repeated).
 * @param {Record<string, unknown>} args @param {"json" | "form"} encoding
 * @returns {[string, string][]}
 */
function fields(args, encoding) {
  /** @type {[string, string][]} */
  const out = [];
  for (const [name, value] of Object.entries(args ?? {})) {
    const values = encoding === "form" && Array.isArray(value) ? value : [value];
    for (const item of values) {
      if (item === undefined) continue;
      out.push([name, typeof item === "string" || encoding === "form" ? String(item) : JSON.stringify(item)]);
    }
  }
  return out;
}

/** Where the page's widgets' calls go: the served pool's route for calls by action id. */
export class HttpTransport {
  /** @param {string} invokeUrl */
  constructor(invokeUrl) {
    this.invokeUrl = invokeUrl;
    /** @type {Map<string, AbortController>} */
    this.calls = new Map();
    /** @type {Map<string, PendingUpload>} */
    this.uploads = new Map();
    /** @type {ViewRefresher | null} */
    this.views = null;
  }

  /** @param {HttpModel} model @param {any} message @param {ArrayBuffer[]} buffers */
  receive(model, message, buffers) {
    switch (message?.kind) {
      case "batch":
        for (const item of message.messages ?? []) this.receive(model, item, buffers);
        return;
      case "upload":
        this.upload(model, message, buffers);
        return;
      case "cancel":
        this.uploads.delete(message.id);
        this.calls.get(message.id)?.abort();
        return;
      case "invoke":
        this.invoke(model, message, buffers).catch((error) => {
          console.error("notebook_actions: a call failed", error);
        });
        return;
    }
  }

  /** @param {HttpModel} model @param {any} message @param {ArrayBuffer[]} buffers */
  upload(model, message, buffers) {
    let pending = this.uploads.get(message.id);
    if (!pending) {
      pending = { name: String(message.name ?? "blob"), type: String(message.content_type ?? ""), parts: [], size: 0 };
      this.uploads.set(message.id, pending);
    }
    const chunk = buffers[typeof message.buffer === "number" ? message.buffer : 0];
    if (chunk) {
      pending.parts.push(chunk);
      pending.size += chunk.byteLength;
    }
    const size = pending.size;
    queueMicrotask(() => model.reply({ kind: "uploaded", id: message.id, size }));
  }

  /**
   * The request body of an invoke.
   * @param {any} message @param {ArrayBuffer[]} buffers
   * @returns {{ body: BodyInit, headers: Record<string, string> }}
   */
  body(message, buffers) {
    const encoding = message.encoding === "form" ? "form" : "json";
    const files = Object.entries(message.files ?? {});
    if (files.length) {
      const form = new FormData();
      for (const [name, value] of fields(message.args, encoding)) form.append(name, value);
      for (const [field, refs] of files) {
        for (const ref of /** @type {any[]} */ (refs)) {
          const upload = ref.upload ? this.uploads.get(ref.upload) : undefined;
          if (ref.upload) this.uploads.delete(ref.upload);
          const parts = upload ? upload.parts : [buffers[ref.buffer] ?? new ArrayBuffer(0)];
          form.append(field, new Blob(parts, { type: ref.content_type || "" }), ref.name || "blob");
        }
      }
      return { body: form, headers: {} };
    }
    if (encoding === "form") {
      return {
        body: new URLSearchParams(fields(message.args, "form")),
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
      };
    }
    return { body: JSON.stringify(message.args ?? {}), headers: { "Content-Type": "application/json" } };
  }

  /** @param {HttpModel} model @param {any} message @param {ArrayBuffer[]} buffers */
  async invoke(model, message, buffers) {
    const id = String(message.id);
    const controller = new AbortController();
    this.calls.set(id, controller);
    /** @param {any} reply @param {ArrayBuffer[]} [replyBuffers] */
    const final = (reply, replyBuffers) => {
      this.calls.delete(id);
      // Views learn that they render again before the reply arrives (view.js waits for it).
      if (reply.kind === "result" || reply.kind === "end" || reply.kind === "error") this.views?.revalidate();
      model.reply(reply, replyBuffers);
    };
    try {
      const { body, headers } = this.body(message, buffers);
      const response = await fetch(this.invokeUrl + encodeURIComponent(String(message.action)), {
        method: "POST",
        body,
        headers: { Accept: "text/event-stream, application/json", ...xsrfHeader(), ...headers },
        credentials: "same-origin",
        signal: controller.signal,
      });
      const type = response.headers.get("Content-Type") ?? "";
      if (response.ok && type.startsWith("text/event-stream") && response.body) {
        await this.stream(model, id, response.body, final);
      } else if (response.ok && type.startsWith("application/octet-stream")) {
        final({ kind: "result", id, value: null, buffer: 0 }, [await response.arrayBuffer()]);
      } else {
        const text = await response.text();
        let parsed = null;
        try {
          parsed = text ? JSON.parse(text) : null;
        } catch {
          parsed = { message: text.slice(0, 200) };
        }
        final(
          response.ok ? { kind: "result", id, value: parsed?.value ?? null } : errorReply(id, response.status, parsed),
        );
      }
    } catch (error) {
      if (controller.signal.aborted) {
        final({ kind: "cancelled", id });
      } else {
        const text = "the server did not answer: check the connection, then try again";
        final({ kind: "error", id, type: "NetworkError", message: `${text} (${error})`, digest: "" });
      }
    }
  }

  /**
   * Server-sent events, as waiting, chunk, progress, result, end and error replies.
   * @param {HttpModel} model @param {string} id @param {ReadableStream<Uint8Array>} stream
   * @param {(reply: any, buffers?: ArrayBuffer[]) => void} final
   */
  async stream(model, id, stream, final) {
    const reader = stream.getReader();
    const decoder = new TextDecoder();
    let text = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      let end = text.indexOf("\n\n");
      while (end >= 0) {
        const block = text.slice(0, end);
        text = text.slice(end + 2);
        end = text.indexOf("\n\n");
        let event = "message";
        let data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) event = line.slice(6).trim();
          else if (line.startsWith("data:")) data += line.slice(5).trim();
        }
        const payload = data ? JSON.parse(data) : {};
        if (event === "chunk") {
          if (typeof payload.base64 === "string") {
            model.reply({ kind: "chunk", id, seq: payload.seq, value: null, buffer: 0 }, [fromBase64(payload.base64)]);
          } else {
            model.reply({ kind: "chunk", id, seq: payload.seq, value: payload.value });
          }
        } else if (event === "progress") {
          const progress = { value: payload.value, total: payload.total ?? null, message: payload.message ?? "" };
          model.reply({ kind: "chunk", id, seq: payload.seq, value: null, progress });
        } else if (event === "waiting") {
          model.reply({ kind: "waiting", id, message: String(payload.message ?? "") });
        } else if (event === "result") {
          if (typeof payload.base64 === "string") {
            final({ kind: "result", id, value: null, buffer: 0 }, [fromBase64(payload.base64)]);
          } else {
            final({ kind: "result", id, value: payload.value ?? null });
          }
          return;
        } else if (event === "end") {
          final({ kind: "end", id });
          return;
        } else if (event === "error") {
          final(errorReply(id, Number(payload.status) || 500, payload));
          return;
        }
      }
    }
    final({ kind: "error", id, type: "NetworkError", message: "the stream ended early: try again", digest: "" });
  }
}

/**
 * The page's views, rendered afresh in a pool kernel (each View holds a `render_action`):
 * on load, and after every call of the page (its reply may have changed their data: the
 * page cannot know which tags the kernel revalidated, so every view renders again).
 */
export class ViewRefresher {
  /** @param {HttpTransport} transport */
  constructor(transport) {
    this.transport = transport;
    /** @type {HttpModel[]} */
    this.models = [];
    /** @type {Map<HttpModel, number>} */
    this.announced = new Map();
    transport.views = this;
  }

  /** @param {HttpModel} model */
  add(model) {
    this.models.push(model);
    this.announced.set(model, Number(model.get("rendered") ?? 0));
  }

  revalidate() {
    for (const model of this.models) this.refresh(model);
  }

  /** @param {HttpModel} model */
  refresh(model) {
    const number = (this.announced.get(model) ?? 0) + 1;
    this.announced.set(model, number);
    model.emit("msg:custom", { [ANNOUNCE]: { rendered: number } }, []);
    const ref = model.get("render_action");
    if (!ref?.id) {
      model.set("rendered", number);
      return;
    }
    fetch(this.transport.invokeUrl + encodeURIComponent(ref.id), {
      method: "POST",
      body: "{}",
      headers: { "Content-Type": "application/json", Accept: "application/json", ...xsrfHeader() },
      credentials: "same-origin",
    })
      .then(async (response) => {
        const body = await response.json();
        if (!response.ok) throw new Error(String(body?.message ?? response.status));
        return String(body.value ?? "");
      })
      .then(
        (html) => {
          if (number < Number(model.get("rendered") ?? 0)) return; // a later render came first
          model.set("value", html);
          model.set("rendered", number);
        },
        (error) => {
          console.warn("notebook_actions: a view could not render again", error);
          if (number > Number(model.get("rendered") ?? 0)) model.set("rendered", number);
        },
      );
  }
}
