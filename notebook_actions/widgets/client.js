// notebook-actions client: call a kernel action from a widget's ES module.
//
// Every widget of notebook_actions (and every `ActionWidget` subclass) gets this file
// prepended to its `_esm`, so `callAction` and `ActionError` are in scope:
//
//     const total = await callAction(model, "add", { a: 1, b: 2 });
//
// Messages travel as anywidget custom messages wrapped in {notebook_actions: ...},
// so they work wherever widgets work (JupyterLab, Notebook 7, Voila, VS Code) and
// do not collide with a widget's own custom messages.

/**
 * What a widget's synced state holds for an action: never the function.
 * @typedef {object} ActionRef
 * @property {string} id
 * @property {string} name
 * @property {boolean} streaming
 * @property {string} [doc]
 * @property {Record<string, any>} params JSON Schema of the arguments object
 * @property {Record<string, boolean>} files the parameters that take files, each with whether it takes several
 */

/** @typedef {import("@anywidget/types").AnyModel} AnyModel anywidget's model, as a view gets it */

/**
 * A validation error for one field ("" when it is about the call as a whole).
 * @typedef {object} FieldError
 * @property {string} field
 * @property {(string | number)[]} loc
 * @property {string} message
 * @property {string} type
 */

/** @typedef {{ value: number, total: number | null, message: string }} ProgressInfo */

/** @typedef {{ file: string, loaded: number, total: number }} UploadProgress */

/** @typedef {Blob | Blob[] | FileList} FileValue */

/**
 * @typedef {object} CallOptions
 * @property {AbortSignal} [signal] aborting it cancels the call (in the kernel too)
 * @property {(value: unknown, seq: number) => void} [onChunk] each streamed chunk
 * @property {(progress: ProgressInfo) => void} [onProgress] each `Progress` the action yields
 * @property {(message: string) => void} [onWaiting] the call waits for the kernel's main thread
 *   (a running cell), and why; the action is not marked threadsafe
 * @property {(progress: UploadProgress) => void} [onUploadProgress] while large files upload
 * @property {Record<string, FileValue>} [files] files by parameter name
 * @property {"json" | "form"} [encoding] "form": values are strings, as an HTML form sends them
 * @property {number} [chunkSize] bytes per upload message (default 1 MiB)
 */

/**
 * Why a call did not return a result. `kind` is "invalid" (see `errors`), "error"
 * (the action raised; `type`, `traceback`), "not_found" (a stale action: the
 * message says what to re-run), "cancelled" or "upload".
 */
export class ActionError extends Error {
  /**
   * @param {"invalid" | "error" | "not_found" | "cancelled" | "upload"} kind
   * @param {string} message
   * @param {{ type?: string, errors?: FieldError[], traceback?: string, digest?: string }} [details]
   */
  constructor(kind, message, details = {}) {
    super(message);
    this.name = "ActionError";
    this.kind = kind;
    this.type = details.type ?? kind;
    /** @type {FieldError[]} */
    this.errors = details.errors ?? [];
    this.traceback = details.traceback ?? "";
    this.digest = details.digest ?? "";
  }
}

const ENVELOPE = "notebook_actions";
const CHUNK_BYTES = 1 << 20;
// Small files ride along with the invoke message, as long as it stays far below the
// 10 MiB websocket message limit; larger ones are uploaded in chunks first.
const INLINE_BUDGET = 4 << 20;
// Upload chunks in flight before waiting for the kernel's `uploaded` acks.
const UPLOAD_WINDOW = 2;

/** @returns {string} 128 random bits (crypto.randomUUID needs a secure context; this does not) */
function newId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** @typedef {(reply: any, buffers: DataView[]) => void} ReplyHandler */

// Set (locally, never saved) on the model when its kernel is gone: anywidget gives
// each view its own model proxy, and this is how they all learn of it.
export const DISCONNECTED = "__notebook_actions_disconnected";
const STALE =
  "This widget lost its kernel (it restarted or stopped), so the action is no longer there: " +
  "re-run the cell that made this widget.";

/** One per model (per view: anywidget hands each view its own model proxy). */
class Connection {
  /** @param {AnyModel} model */
  constructor(model) {
    this.model = model;
    /** @type {Map<string, ReplyHandler>} */
    this.handlers = new Map();
    model.on("msg:custom", (/** @type {any} */ content, /** @type {any[]} */ buffers) => {
      this.receive(content, (buffers ?? []).map(asDataView));
    });
    // ipywidgets marks every model not live when the kernel restarts ("comm_live_update",
    // which fires only then once a view exists); messages sent after that go nowhere.
    const lost = () => {
      if (!this.disconnected) model.set(DISCONNECTED, true);
      this.failAll();
    };
    model.on("comm_live_update", lost);
    model.on("comm:close", lost);
    model.on(`change:${DISCONNECTED}`, () => this.failAll());
  }

  get disconnected() {
    return Boolean(this.model.get(DISCONNECTED));
  }

  failAll() {
    for (const [id, handler] of Array.from(this.handlers)) handler({ kind: "not_found", id, message: STALE }, []);
  }

  /** @param {any} content @param {DataView[]} buffers */
  receive(content, buffers) {
    if (content === null || typeof content !== "object" || !(ENVELOPE in content)) return;
    const message = content[ENVELOPE];
    const replies = message?.kind === "batch" ? message.messages : [message];
    for (const reply of replies) {
      const handler = this.handlers.get(reply?.id);
      if (handler) handler(reply, buffers);
    }
  }

  /** @param {Record<string, unknown>} message @param {ArrayBuffer[]} [buffers] */
  send(message, buffers = []) {
    try {
      this.model.send({ [ENVELOPE]: message }, undefined, buffers);
    } catch (error) {
      // JupyterLab throws "Cannot send" once the comm is gone (a restarted kernel).
      console.warn("notebook_actions: sending failed", error);
      if (!this.disconnected) this.model.set(DISCONNECTED, true);
      throw new ActionError("not_found", STALE);
    }
  }
}

/** @type {WeakMap<AnyModel, Connection>} */
const connections = new WeakMap();

/**
 * Start listening to the model now (the views do it in `render`): then a kernel restart
 * before the first call is noticed too. `callAction` connects on first use anyway.
 * @param {AnyModel} model
 */
export function connectActions(model) {
  let connection = connections.get(model);
  if (!connection) {
    connection = new Connection(model);
    connections.set(model, connection);
  }
  return connection;
}

/** @param {any} buffer @returns {DataView} */
function asDataView(buffer) {
  if (buffer instanceof DataView) return buffer;
  if (ArrayBuffer.isView(buffer)) return new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  return new DataView(buffer);
}

/** @param {FileValue} value @returns {Blob[]} */
function blobs(value) {
  if (value instanceof Blob) return [value];
  return Array.from(value);
}

/** @param {Blob} blob */
function fileName(blob) {
  return blob instanceof File ? blob.name : "blob";
}

/** @param {number} bytes */
export function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** @param {AbortSignal | undefined} signal */
function cancelledError(signal) {
  const reason = signal?.reason;
  const message = reason instanceof Error && reason.name !== "AbortError" ? reason.message : "Cancelled.";
  return new ActionError("cancelled", message);
}

/**
 * Upload one file in chunks; resolves with the upload id to put in the invoke.
 * @param {Connection} connection
 * @param {Blob} blob
 * @param {{ chunkSize: number, signal?: AbortSignal, onAck: (size: number) => void }} options
 * @returns {Promise<string>}
 */
function upload(connection, blob, { chunkSize, signal, onAck }) {
  const uid = `upload-${newId()}`;
  const chunks = Math.max(1, Math.ceil(blob.size / chunkSize));
  return new Promise((resolve, reject) => {
    let sent = 0;
    let acked = 0;
    let failed = false;
    const finish = () => {
      connection.handlers.delete(uid);
      signal?.removeEventListener("abort", onAbort);
    };
    const fail = (/** @type {ActionError} */ error) => {
      failed = true;
      finish();
      reject(error);
    };
    const onAbort = () => {
      // The kernel drops the chunks it holds of this upload at once (the protocol's cancel).
      if (sent > 0) {
        try {
          connection.send({ kind: "cancel", id: uid });
        } catch {
          // the connection is gone: so is the kernel's upload store for it
        }
      }
      fail(cancelledError(signal));
    };
    const failWith = (/** @type {unknown} */ error) =>
      fail(error instanceof ActionError ? error : new ActionError("upload", String(error)));
    let pumping = false;
    // One loop at a time, so chunks leave in order even when acks arrive mid-read.
    const pump = async () => {
      if (pumping) return;
      pumping = true;
      try {
        while (!failed && sent < chunks && sent - acked < UPLOAD_WINDOW) {
          const index = sent;
          sent += 1;
          const start = index * chunkSize;
          const bytes = await blob.slice(start, start + chunkSize).arrayBuffer();
          if (failed) return;
          /** @type {Record<string, unknown>} */
          const message = { kind: "upload", id: uid };
          if (index === 0) {
            message.name = fileName(blob);
            message.content_type = blob.type;
          }
          if (index === chunks - 1) message.final = true;
          connection.send(message, [bytes]);
        }
      } finally {
        pumping = false;
      }
    };
    connection.handlers.set(uid, (reply) => {
      if (reply.kind === "uploaded") {
        acked += 1;
        onAck(reply.size);
        if (acked === chunks) {
          finish();
          resolve(uid);
        } else {
          pump().catch(failWith);
        }
      } else if (reply.kind === "not_found") {
        fail(new ActionError("not_found", reply.message));
      } else if (reply.kind === "error") {
        fail(new ActionError("upload", `${fileName(blob)}: ${reply.message}`, { type: reply.type }));
      }
    });
    signal?.addEventListener("abort", onAbort);
    pump().catch(failWith);
  });
}

/**
 * Call an action held by the widget and get a Promise of its result.
 *
 * `action` is the name of the trait holding the action, or the `{id, ...}` ref itself.
 * A streaming action's Promise resolves with the list of its chunks (`Progress`
 * reports go to `onProgress` instead). A `bytes` result arrives as a DataView.
 * Rejects with an `ActionError`.
 *
 * @param {AnyModel} model
 * @param {string | ActionRef} action
 * @param {Record<string, unknown>} [args]
 * @param {CallOptions} [options]
 * @returns {Promise<any>}
 */
export async function callAction(model, action, args = {}, options = {}) {
  const ref = typeof action === "string" ? model.get(action) : action;
  if (ref === null || typeof ref !== "object" || typeof ref.id !== "string") {
    const what = typeof action === "string" ? `the trait ${JSON.stringify(action)}` : "the given value";
    throw new ActionError("not_found", `${what} holds no action: give the widget an action in the kernel`);
  }
  const { signal, chunkSize = CHUNK_BYTES } = options;
  if (signal?.aborted) throw cancelledError(signal);
  const connection = connectActions(model);
  if (connection.disconnected) throw new ActionError("not_found", STALE);

  // Every size check happens before anything is sent.
  const limit = Number(model.get("max_upload_bytes")) || Infinity;
  /** @type {[string, Blob][]} */
  const files = [];
  /** @type {FieldError[]} */
  const tooLarge = [];
  for (const [field, value] of Object.entries(options.files ?? {})) {
    for (const blob of blobs(value)) {
      files.push([field, blob]);
      if (blob.size > limit) {
        const message =
          `${fileName(blob)} is ${formatBytes(blob.size)}, larger than the upload limit of ` +
          `${formatBytes(limit)}: choose a smaller file, or raise max_upload_bytes in the kernel`;
        tooLarge.push({ field, loc: [], message, type: "upload_too_large" });
      }
    }
  }
  if (tooLarge.length) {
    throw new ActionError("invalid", tooLarge.map((e) => e.message).join("; "), { errors: tooLarge });
  }

  /** @type {Record<string, Record<string, unknown>[]>} */
  const refs = {};
  /** @type {ArrayBuffer[]} */
  const buffers = [];
  let inline = 0;
  const plan = files.map(([field, blob]) => {
    const chunked = blob.size > chunkSize || inline + blob.size > INLINE_BUDGET;
    if (!chunked) inline += blob.size;
    return { field, blob, chunked };
  });
  let total = 0;
  for (const { blob, chunked } of plan) if (chunked) total += blob.size;
  let done = 0;
  for (const { field, blob, chunked } of plan) {
    /** @type {Record<string, unknown>} */
    const fileRef = { name: fileName(blob), content_type: blob.type };
    if (chunked) {
      const before = done;
      const report = (/** @type {number} */ size) =>
        options.onUploadProgress?.({ file: fileName(blob), loaded: before + size, total });
      report(0);
      fileRef.upload = await upload(connection, blob, { chunkSize, signal, onAck: report });
      done += blob.size;
    } else {
      fileRef.buffer = buffers.length;
      buffers.push(await blob.arrayBuffer());
    }
    (refs[field] ??= []).push(fileRef);
  }
  if (signal?.aborted) throw cancelledError(signal);

  const rid = newId();
  return new Promise((resolve, reject) => {
    /** @type {unknown[]} */
    const chunks = [];
    const finish = () => {
      connection.handlers.delete(rid);
      signal?.removeEventListener("abort", onAbort);
    };
    const onAbort = () => {
      try {
        connection.send({ kind: "cancel", id: rid });
      } catch (error) {
        finish();
        reject(error);
      }
    };
    connection.handlers.set(rid, (reply, replyBuffers) => {
      const binary = typeof reply.buffer === "number" ? replyBuffers[reply.buffer] : undefined;
      switch (reply.kind) {
        case "chunk":
          if (reply.progress) {
            options.onProgress?.(reply.progress);
          } else {
            const value = binary ?? reply.value;
            chunks.push(value);
            options.onChunk?.(value, reply.seq);
          }
          return;
        case "waiting":
          options.onWaiting?.(reply.message);
          return;
        case "result":
          finish();
          resolve(binary ?? reply.value);
          return;
        case "end":
          finish();
          resolve(chunks);
          return;
        case "invalid": {
          finish();
          const message = reply.errors
            .map((/** @type {FieldError} */ e) => (e.field ? `${e.field}: ${e.message}` : e.message))
            .join("; ");
          reject(new ActionError("invalid", message, { errors: reply.errors }));
          return;
        }
        case "error":
          finish();
          reject(new ActionError("error", reply.message, reply));
          return;
        case "not_found":
          finish();
          reject(new ActionError("not_found", reply.message));
          return;
        case "cancelled":
          finish();
          reject(cancelledError(signal));
          return;
      }
    });
    signal?.addEventListener("abort", onAbort);
    /** @type {Record<string, unknown>} */
    const message = { kind: "invoke", id: rid, action: ref.id, args };
    if (options.encoding) message.encoding = options.encoding;
    if (files.length) message.files = refs;
    try {
      connection.send(message, buffers);
    } catch (error) {
      finish();
      reject(error);
    }
  });
}
