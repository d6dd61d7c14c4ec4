// Shared by the Form, View and ActionButton views: pending state, results in submission
// order, streamed chunks and progress, errors and the Cancel control.

import { ActionError, formatBytes } from "./client.js";

/** @typedef {import("./client.js").ProgressInfo} ProgressInfo */
/** @typedef {import("./client.js").UploadProgress} UploadProgress */
/** @typedef {"auto" | "text" | "json" | "html" | "none"} ResultView */

/**
 * Make an element. Props starting with "on" are listeners, `dataset` and `style` are
 * copied, `true`/`false` toggle attributes, anything else is an attribute.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, any>} [props]
 * @param {(Node | string | null | undefined | false)[]} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(node.dataset, value);
    } else if (key === "text") {
      node.textContent = String(value);
    } else {
      node.setAttribute(key, value === true ? "" : String(value));
    }
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child);
  }
  return node;
}

let counter = 0;
/** @param {string} prefix @returns {string} an id unique in the page */
export function uid(prefix) {
  counter += 1;
  return `na-${prefix}-${counter}-${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * Show a result: text, formatted JSON, HTML (only when asked for), or bytes to download.
 * @param {HTMLElement} container
 * @param {unknown} value
 * @param {ResultView} view
 */
export function renderResult(container, value, view) {
  container.replaceChildren();
  if (view === "none" || value === undefined || value === null) return;
  if (value instanceof DataView) {
    const bytes = new Uint8Array(value.buffer, value.byteOffset, value.byteLength).slice();
    const url = URL.createObjectURL(new Blob([bytes]));
    container.append(
      h("a", {
        class: "na-download",
        href: url,
        download: "result.bin",
        text: `Download result (${formatBytes(value.byteLength)})`,
      }),
    );
    return;
  }
  if (view === "html") {
    const box = h("div", { class: "na-html" });
    box.innerHTML = String(value);
    container.append(box);
    return;
  }
  const asText = view === "text" || (view === "auto" && typeof value !== "object");
  if (asText) {
    container.append(h("pre", { class: "na-text", text: String(value) }));
  } else {
    container.append(h("pre", { class: "na-json", text: JSON.stringify(value, null, 2) }));
  }
}

/**
 * Show why a call failed. `unattached` are the field errors no input could show.
 * @param {HTMLElement} container
 * @param {unknown} error
 * @param {import("./client.js").FieldError[]} [unattached]
 */
export function renderError(container, error, unattached = []) {
  container.replaceChildren();
  if (!(error instanceof ActionError)) {
    container.append(h("div", { class: "na-error", role: "alert", text: String(error) }));
    return;
  }
  if (error.kind === "cancelled") return; // the status says so
  if (error.kind === "invalid") {
    const items = unattached.map((e) => h("li", { text: e.field ? `${e.field}: ${e.message}` : e.message }));
    container.append(
      h(
        "div",
        { class: "na-error", role: "alert" },
        "Please correct the highlighted fields.",
        items.length ? h("ul", {}, ...items) : null,
      ),
    );
    return;
  }
  const box = h("div", { class: "na-error", role: "alert" });
  if (error.kind === "error") {
    box.append(h("strong", { text: error.type }), `: ${error.message}`);
    if (error.traceback) {
      box.append(
        h(
          "details",
          {},
          h("summary", { text: "Traceback" }),
          h("pre", { class: "na-traceback", text: error.traceback }),
        ),
      );
    } else if (error.digest) {
      box.append(h("div", { class: "na-digest", text: `digest ${error.digest} (details in the kernel's log)` }));
    }
  } else {
    box.append(error.message);
  }
  container.append(box);
}

/**
 * What a finished run produced, handed to the widget in submission order.
 * @typedef {object} Outcome
 * @property {boolean} ok
 * @property {unknown} [value]
 * @property {unknown} [error]
 * @property {HTMLElement} block where the run shows its output
 * @property {boolean} latest no other run is pending after this one
 */

/**
 * @typedef {object} RunHooks
 * @property {AbortSignal} signal
 * @property {(value: unknown) => void} onChunk
 * @property {(progress: ProgressInfo) => void} onProgress
 * @property {(progress: UploadProgress) => void} onUploadProgress
 * @property {(message: string) => void} onWaiting
 */

/**
 * @typedef {object} Run
 * @property {HTMLElement} block
 * @property {AbortController} controller
 * @property {boolean} settled
 * @property {boolean} streamed
 * @property {Outcome | null} outcome
 */

/**
 * How long a call is pending before its spinner shows. The pending state shows at once in
 * ways that cost no frames (aria-busy, disabled buttons, the status text); the spinner is
 * an animation, which makes Chromium repaint every frame while it is on the page, so a
 * call that answers sooner never starts it.
 */
const SPINNER_DELAY_MS = 150;

/**
 * The runs of one widget. Every call gets a block in `output`; outcomes are revealed
 * in submission order (a later call that finishes first waits), so a reply is never
 * shown out of order and never lost.
 */
export class Runs {
  /**
   * @param {object} options
   * @param {HTMLElement} options.output
   * @param {HTMLElement} options.status a role="status" element
   * @param {HTMLButtonElement} options.cancel
   * @param {HTMLElement} options.busy gets aria-busy while runs are pending
   * @param {() => ResultView} options.view
   * @param {() => boolean} options.concurrent
   * @param {boolean} [options.quietSuccess] no "Done." after a success (what changed says it)
   * @param {(busy: boolean, cancelHadFocus: boolean) => void} [options.onBusy] `cancelHadFocus`: Cancel
   *   had the focus before this update (hiding it drops the focus to the page)
   * @param {(outcome: Outcome) => unknown} [options.onOutcome] return true when it rendered the outcome itself
   */
  constructor(options) {
    this.options = options;
    /** @type {Run[]} */
    this.runs = [];
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.spinnerTimer = null;
    this.spinning = false;
    options.cancel.addEventListener("click", () => this.cancelAll());
    this.update();
  }

  get pending() {
    return this.runs.filter((run) => !run.settled).length;
  }

  cancelAll() {
    for (const run of this.runs) if (!run.settled) run.controller.abort();
  }

  /**
   * Start one call.
   * @param {(hooks: RunHooks) => Promise<unknown>} call
   * @param {{ streaming?: boolean }} [info]
   */
  start(call, info = {}) {
    const stream = h("pre", { class: "na-stream", hidden: true });
    const progressLabel = h("span", { class: "na-progress-label" });
    const progress = h("progress", { class: "na-progress", max: 1 });
    const progressBox = h("div", { class: "na-progress-box", hidden: true }, progressLabel, progress);
    const result = h("div", { class: "na-result" });
    const block = h("div", { class: "na-run", dataset: { state: "pending" } }, progressBox, stream, result);
    /** @type {Run} */
    const run = {
      block,
      controller: new AbortController(),
      settled: false,
      streamed: Boolean(info.streaming),
      outcome: null,
    };
    this.runs.push(run);
    this.options.output.append(block);

    /** @param {string} label @param {number | null} value @param {number | null} total */
    const showProgress = (label, value, total) => {
      progressBox.hidden = false;
      progressLabel.textContent = label;
      if (value === null || total === null || !(total > 0)) {
        progress.removeAttribute("value");
      } else {
        progress.max = total;
        progress.value = Math.min(value, total);
      }
      progress.setAttribute("aria-label", label || "progress");
    };

    /** @type {RunHooks} */
    const hooks = {
      signal: run.controller.signal,
      onChunk: (value) => {
        run.streamed = true;
        block.dataset.state = "running";
        stream.hidden = false;
        if (value instanceof DataView) stream.append(`[${formatBytes(value.byteLength)}]\n`);
        else stream.append(typeof value === "string" ? value : `${JSON.stringify(value)}\n`);
        this.update();
      },
      onProgress: (p) => {
        run.streamed = true;
        block.dataset.state = "running";
        showProgress(p.message, p.value, p.total);
        this.update();
      },
      onWaiting: (message) => {
        // Queued behind a running cell: the status says so until the call starts.
        block.dataset.state = "waiting";
        block.dataset.waiting = message;
        this.update();
      },
      onUploadProgress: (p) => {
        block.dataset.state = "uploading";
        showProgress(`Uploading ${p.file}: ${formatBytes(p.loaded)} of ${formatBytes(p.total)}`, p.loaded, p.total);
        if (p.loaded >= p.total) {
          // Every byte is in the kernel: what remains is the action's own work.
          progressBox.hidden = true;
          block.dataset.state = "processing";
        }
        this.update();
      },
    };
    this.update();
    call(hooks).then(
      (value) => this.settle(run, { ok: true, value, block: result, latest: false }),
      (error) => this.settle(run, { ok: false, error, block: result, latest: false }),
    );
    return run.controller.signal;
  }

  /** @param {Run} run @param {Outcome} outcome */
  settle(run, outcome) {
    run.settled = true;
    run.outcome = outcome;
    // Progress is about a call still running: a finished one's "15 of 15" would linger
    // under a form that has reset. A failed or cancelled run keeps it (where it stopped).
    const progress = run.block.querySelector(".na-progress-box");
    if (outcome.ok && progress instanceof HTMLElement) progress.hidden = true;
    run.block.dataset.state = outcome.ok
      ? "done"
      : outcome.error instanceof ActionError && outcome.error.kind === "cancelled"
        ? "cancelled"
        : "failed";
    // Reveal, in order, every settled run that no pending run precedes.
    while (this.runs.length && this.runs[0].settled) {
      const head = /** @type {Run} */ (this.runs.shift());
      const shown = /** @type {Outcome} */ (head.outcome);
      shown.latest = !this.runs.some((r) => !r.settled);
      this.reveal(head, shown);
      // Only the last revealed run stays on screen.
      for (const old of Array.from(this.options.output.children)) {
        if (old === head.block) break;
        if (old instanceof HTMLElement && old.dataset.revealed === "true") old.remove();
      }
    }
    this.update();
  }

  /** @param {Run} run @param {Outcome} outcome */
  reveal(run, outcome) {
    run.block.dataset.revealed = "true";
    run.block.hidden = false;
    const handled = this.options.onOutcome?.(outcome) === true;
    if (handled) return;
    if (outcome.ok) {
      if (!run.streamed) renderResult(outcome.block, outcome.value, this.options.view());
    } else {
      renderError(outcome.block, outcome.error);
    }
  }

  update() {
    const { status, cancel, busy, onBusy, concurrent } = this.options;
    const pending = this.runs.filter((run) => !run.settled);
    // Settled runs waiting for an earlier one stay hidden until their turn.
    for (const run of this.runs) run.block.hidden = run.settled;
    const waiting = concurrent() ? 0 : Math.max(0, pending.length - 1);
    pending.forEach((run, index) => {
      if (!concurrent() && index > 0) run.block.dataset.state = "queued";
      else if (run.block.dataset.state === "queued") run.block.dataset.state = "pending";
    });
    const isBusy = pending.length > 0;
    const cancelHadFocus = document.activeElement === cancel;
    busy.setAttribute("aria-busy", String(isBusy));
    cancel.hidden = !isBusy;
    let text = "";
    if (isBusy) {
      const waitingFor = pending.find((r) => r.block.dataset.state === "waiting")?.block.dataset.waiting;
      text = pending.some((r) => r.block.dataset.state === "uploading")
        ? "Uploading…"
        : waitingFor
          ? `${waitingFor[0].toUpperCase()}${waitingFor.slice(1)}…`
          : pending.some((r) => r.block.dataset.state === "processing")
            ? "Processing…"
            : "Working…";
      if (waiting) text += ` (${waiting} queued)`;
    } else {
      const last = this.options.output.querySelector("[data-revealed='true']");
      const state = last instanceof HTMLElement ? last.dataset.state : "";
      text =
        state === "done"
          ? this.options.quietSuccess
            ? ""
            : "Done."
          : state === "cancelled"
            ? "Cancelled."
            : state === "failed"
              ? "Failed."
              : "";
    }
    if (!isBusy) {
      if (this.spinnerTimer !== null) clearTimeout(this.spinnerTimer);
      this.spinnerTimer = null;
      this.spinning = false;
    } else if (!this.spinning && this.spinnerTimer === null) {
      this.spinnerTimer = setTimeout(() => {
        this.spinnerTimer = null;
        this.spinning = this.pending > 0;
        this.update();
      }, SPINNER_DELAY_MS);
    }
    const spinner = status.querySelector(".na-spinner");
    if (status.dataset.text !== text || Boolean(spinner) !== this.spinning) {
      status.dataset.text = text;
      const shown = this.spinning ? [h("span", { class: "na-spinner", "aria-hidden": "true" })] : [];
      status.replaceChildren(...shown, text);
    }
    onBusy?.(isBusy, cancelHadFocus);
  }
}
