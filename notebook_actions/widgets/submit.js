// One <form> wired to kernel actions: its FormData goes to an action, with pending state
// (aria-busy, disabled buttons, a status and Cancel), per-field errors next to its inputs,
// a general error and the result. The Form widget uses it for the form it builds (or the
// author's markup); the View, for every form in its rendered HTML.

import { ActionError, callAction } from "./client.js";
import { h, Runs, renderError, uid } from "./ui.js";

/** @typedef {import("@anywidget/types").AnyModel} AnyModel */
/** @typedef {import("./client.js").ActionRef} ActionRef */
/** @typedef {import("./client.js").FieldError} FieldError */
/** @typedef {import("./ui.js").Outcome} Outcome */
/** @typedef {import("./ui.js").ResultView} ResultView */

/**
 * One form control, as the kernel describes it (from the action's signature).
 * @typedef {object} FieldSpec
 * @property {string} name
 * @property {string} label
 * @property {string} control text, email, url, textarea, password, number, checkbox, select,
 *   radio, multiselect, date, datetime-local, time, file, lines or json
 * @property {boolean} required
 * @property {string} [help]
 * @property {unknown} [default]
 * @property {{ value: unknown, label: string }[]} [options]
 * @property {boolean} [multiple]
 * @property {number | string} [min]
 * @property {number | string} [max]
 * @property {number | string} [step]
 * @property {number} [minlength]
 * @property {number} [maxlength]
 * @property {string} [pattern]
 */

/**
 * How a form finds what it shows for one parameter.
 * @typedef {object} FieldView
 * @property {HTMLElement[]} inputs
 * @property {HTMLElement} error
 * @property {FieldSpec} [spec]
 */

/**
 * What a live form adds to the page: placed by its owner, moved with it.
 * @typedef {object} FormUI
 * @property {HTMLElement} status a role="status" element
 * @property {HTMLButtonElement} cancel
 * @property {HTMLElement} general errors that belong to no field
 * @property {HTMLElement} output results
 */

/** @returns {FormUI} */
export function formUI() {
  return {
    status: h("span", { class: "na-status", role: "status", "aria-live": "polite" }),
    cancel: h("button", { type: "button", class: "na-button na-cancel", hidden: true, text: "Cancel" }),
    general: h("div", { class: "na-general" }),
    output: h("div", { class: "na-output", "aria-live": "polite" }),
  };
}

/**
 * Error slots for markup: `[data-error-for=name]` if the form has one, otherwise a new
 * element right after the (last) input of that name.
 * @param {HTMLFormElement} form
 * @param {string} name
 * @param {Map<string, FieldView>} fields
 * @returns {FieldView | undefined}
 */
function markupField(form, name, fields) {
  const known = fields.get(name);
  if (known) return known;
  const inputs = Array.from(form.elements).filter(
    (el) => el instanceof HTMLElement && el.getAttribute("name") === name && !(el instanceof HTMLButtonElement),
  );
  if (!inputs.length) return undefined;
  const htmlInputs = /** @type {HTMLElement[]} */ (inputs);
  let error = /** @type {HTMLElement | null} */ (form.querySelector(`[data-error-for="${CSS.escape(name)}"]`));
  if (!error) {
    error = h("div", { class: "na-field-error", hidden: true });
    htmlInputs[htmlInputs.length - 1].after(error);
  }
  if (!error.id) error.id = uid(`${name}-error`);
  for (const input of htmlInputs) {
    const ids = (input.getAttribute("aria-describedby") ?? "").split(/\s+/).filter(Boolean);
    if (!ids.includes(error.id)) input.setAttribute("aria-describedby", [...ids, error.id].join(" "));
  }
  const view = { inputs: htmlInputs, error };
  fields.set(name, view);
  return view;
}

/**
 * The arguments (and files) a submission sends, converted by the field specs where
 * the form was built from the signature.
 * @param {HTMLFormElement} form
 * @param {HTMLElement | null} submitter
 * @param {Map<string, FieldView>} fields
 * @param {ActionRef} ref
 * @returns {{ args: Record<string, unknown>, files: Record<string, File[]>, errors: FieldError[] }}
 */
function collect(form, submitter, fields, ref) {
  const data = submitter ? new FormData(form, submitter) : new FormData(form);
  /** @type {Record<string, unknown>} */
  const args = {};
  /** @type {Record<string, File[]>} */
  const files = {};
  /** @type {FieldError[]} */
  const errors = [];
  const properties = ref.params?.properties ?? {};
  const closed = ref.params?.additionalProperties === false;
  for (const [name, value] of data.entries()) {
    if (closed && !(name in properties)) continue; // the action reads the fields it names
    if (value instanceof File) {
      if (value.name === "" && value.size === 0) continue; // an empty file input
      (files[name] ??= []).push(value);
      continue;
    }
    const spec = fields.get(name)?.spec;
    /** @type {unknown} */
    let converted = value;
    if (spec && ["select", "radio", "multiselect"].includes(spec.control)) {
      if (value === "") continue;
      converted = spec.options?.[Number(value)]?.value;
    } else if (spec?.control === "lines") {
      converted = value
        .split("\n")
        .map((line) => line.trim())
        .filter(Boolean);
    } else if (spec?.control === "json") {
      if (value.trim() === "") continue;
      try {
        converted = JSON.parse(value);
      } catch (err) {
        errors.push({
          field: name,
          loc: [],
          message: `Not valid JSON: ${err instanceof Error ? err.message : err}`,
          type: "json_invalid",
        });
        continue;
      }
    }
    if (spec?.control === "multiselect" || (name in args && !spec)) {
      const previous = args[name];
      args[name] =
        previous === undefined
          ? [converted]
          : Array.isArray(previous)
            ? [...previous, converted]
            : [previous, converted];
    } else {
      args[name] = converted;
    }
  }
  for (const [name, view] of fields) {
    // An empty multi-select sends nothing: say "none" rather than "use the default".
    if (view.spec?.control === "multiselect" && !(name in args)) args[name] = [];
  }
  return { args, files, errors };
}

/**
 * @typedef {object} LiveFormOptions
 * @property {AnyModel} model
 * @property {HTMLFormElement} form
 * @property {FormUI} ui already placed in (or beside) the form
 * @property {Map<string, FieldView>} [fields] the fields built from the signature; without
 *   it the form is markup, and error slots are found by input name
 * @property {(submitter: HTMLElement | null, form: HTMLFormElement) => ActionRef | ActionError} resolve
 *   the action a submission calls, or why there is none (shown, and nothing is sent)
 * @property {() => ResultView} view
 * @property {() => boolean} reset whether inputs reset after a success
 * @property {() => Promise<void>} [settle] awaited after each reply, before the form shows
 *   it: the View waits there for the HTML its kernel re-rendered meanwhile
 * @property {boolean} [quietSuccess] say nothing when a call succeeds (the View re-renders)
 * @property {(error: unknown) => void} [onLost] a call failed after its form left the page
 * @property {() => void} [onIdle] no call is pending any more
 */

/** A form whose submissions call actions. */
export class LiveForm {
  /** @param {LiveFormOptions} options */
  constructor(options) {
    this.options = options;
    this.form = options.form;
    this.markup = !options.fields;
    /** @type {Map<string, FieldView>} */
    this.fields = options.fields ?? new Map();
    const { ui, model } = options;
    this.runs = new Runs({
      output: ui.output,
      status: ui.status,
      cancel: ui.cancel,
      busy: this.form,
      view: options.view,
      concurrent: () => Boolean(model.get("concurrent")),
      quietSuccess: options.quietSuccess,
      onOutcome: (outcome) => this.onOutcome(outcome),
      onBusy: (busy, cancelHadFocus) => this.onBusy(busy, cancelHadFocus),
    });
    this.onSubmit = (/** @type {SubmitEvent} */ event) => {
      event.preventDefault();
      this.submit(/** @type {HTMLElement | null} */ (event.submitter ?? null));
    };
    this.form.addEventListener("submit", this.onSubmit);
  }

  get busy() {
    return this.runs.pending > 0;
  }

  cancel() {
    this.runs.cancelAll();
  }

  /**
   * Carry on in `form`, which replaces this one on the page (a re-render): the pending
   * state, status and Cancel move with the calls still running.
   * @param {HTMLFormElement} form
   * @param {(ui: FormUI) => void} place puts this form's UI into the new form
   */
  attach(form, place) {
    this.form.removeEventListener("submit", this.onSubmit);
    this.form = form;
    if (this.markup) this.fields.clear();
    place(this.options.ui);
    form.addEventListener("submit", this.onSubmit);
    this.runs.options.busy = form;
    this.runs.update();
  }

  submitButtons() {
    return /** @type {(HTMLButtonElement | HTMLInputElement)[]} */ (
      Array.from(this.form.querySelectorAll("button, input[type=submit]")).filter(
        (b) => (b instanceof HTMLButtonElement || b instanceof HTMLInputElement) && b.type === "submit",
      )
    );
  }

  /** @param {HTMLElement | null} submitter */
  submit(submitter) {
    const { model, ui } = this.options;
    const ref = this.options.resolve(submitter, this.form);
    if (ref instanceof ActionError) {
      ui.general.replaceChildren();
      renderError(ui.general, ref);
      return;
    }
    const { args, files, errors } = collect(this.form, submitter, this.fields, ref);
    if (errors.length) {
      this.runs.start(() =>
        Promise.reject(new ActionError("invalid", errors.map((e) => e.message).join("; "), { errors })),
      );
      return;
    }
    const settle = this.options.settle;
    this.runs.start(
      async (hooks) => {
        try {
          return await callAction(model, ref, args, { ...hooks, files, encoding: "form" });
        } finally {
          await settle?.();
        }
      },
      { streaming: ref.streaming },
    );
  }

  /** @param {FieldError[]} errors @returns {FieldError[]} the errors no field could show */
  showFieldErrors(errors) {
    for (const view of this.fields.values()) {
      view.error.hidden = true;
      view.error.textContent = "";
      for (const input of view.inputs) input.setAttribute("aria-invalid", "false");
    }
    /** @type {FieldError[]} */
    const unattached = [];
    /** @type {HTMLElement | null} */
    let first = null;
    for (const error of errors) {
      const view = error.field
        ? this.markup
          ? markupField(this.form, error.field, this.fields)
          : this.fields.get(error.field)
        : undefined;
      if (!view) {
        unattached.push(error);
        continue;
      }
      const where = error.loc.length
        ? `Item ${error.loc.map((l) => (typeof l === "number" ? l + 1 : l)).join(".")}: `
        : "";
      view.error.append(h("div", { text: `${where}${error.message}` }));
      view.error.hidden = false;
      for (const input of view.inputs) input.setAttribute("aria-invalid", "true");
      first ??= view.inputs[0] ?? null;
    }
    first?.focus();
    return unattached;
  }

  /** @param {Outcome} outcome @returns {boolean} whether it was shown here */
  onOutcome(outcome) {
    const { ui } = this.options;
    ui.general.replaceChildren();
    if (!this.form.isConnected && !outcome.ok && this.options.onLost) {
      // A re-render removed the form: say what failed where someone can see it.
      if (!(outcome.error instanceof ActionError && outcome.error.kind === "cancelled")) {
        this.options.onLost(outcome.error);
      }
      return true;
    }
    if (!outcome.ok && outcome.error instanceof ActionError && outcome.error.kind === "invalid") {
      const unattached = this.showFieldErrors(outcome.error.errors);
      renderError(outcome.block, outcome.error, unattached);
      return true;
    }
    this.showFieldErrors([]);
    if (outcome.ok && outcome.latest && this.options.reset()) this.form.reset();
    return false;
  }

  /** @param {boolean} busy @param {boolean} cancelHadFocus */
  onBusy(busy, cancelHadFocus) {
    const { model, ui } = this.options;
    const disable = busy && !model.get("concurrent");
    const buttons = this.submitButtons();
    if (disable && buttons.some((b) => b === document.activeElement) && !ui.cancel.hidden) ui.cancel.focus();
    for (const button of buttons) button.disabled = disable;
    if (!busy && (cancelHadFocus || document.activeElement === ui.cancel)) buttons[0]?.focus();
    if (!busy) this.options.onIdle?.();
  }
}
