// The Form widget's view: a form built from the action's signature (or the author's
// own markup), submitted as an action call with pending state, field errors, results,
// streamed progress and Cancel.

import { ActionError, callAction, connectActions } from "./client.js";
import { h, Runs, renderError, uid } from "./ui.js";

/** @typedef {import("./client.js").AnyModel} AnyModel */
/** @typedef {import("./client.js").ActionRef} ActionRef */
/** @typedef {import("./client.js").FieldError} FieldError */
/** @typedef {import("./ui.js").Outcome} Outcome */

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
 * How the form finds what it shows for one parameter.
 * @typedef {object} FieldView
 * @property {HTMLElement[]} inputs
 * @property {HTMLElement} error
 * @property {FieldSpec} [spec]
 */

/** @param {string} name */
function humanize(name) {
  const text = name.replace(/_/g, " ").trim();
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** @param {unknown} a @param {unknown} b */
function same(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** @param {unknown} value */
function asText(value) {
  return value === undefined || value === null ? "" : String(value);
}

/**
 * @param {FieldSpec} spec
 * @param {string} id
 * @param {string} describedBy
 * @returns {{ control: HTMLElement, inputs: HTMLElement[] }}
 */
function buildControl(spec, id, describedBy) {
  const common = {
    id,
    name: spec.name,
    "aria-describedby": describedBy,
    "aria-required": spec.required ? "true" : undefined,
    "aria-invalid": "false",
  };
  const options = spec.options ?? [];
  switch (spec.control) {
    case "checkbox": {
      const input = h("input", { ...common, type: "checkbox", checked: spec.default === true });
      return { control: input, inputs: [input] };
    }
    case "select":
    case "multiselect": {
      const multiple = spec.control === "multiselect";
      const chosen = multiple && Array.isArray(spec.default) ? spec.default : [spec.default];
      const select = h(
        "select",
        { ...common, multiple, size: multiple ? Math.min(options.length, 6) : undefined },
        !multiple && spec.default === undefined ? h("option", { value: "", text: "Choose…" }) : null,
        ...options.map((option, index) =>
          h("option", {
            value: String(index),
            text: option.label,
            selected: chosen.some((c) => same(c, option.value)),
          }),
        ),
      );
      return { control: select, inputs: [select] };
    }
    case "radio": {
      const radios = options.map((option, index) =>
        h("input", {
          type: "radio",
          id: index === 0 ? id : `${id}-${index}`,
          name: spec.name,
          value: String(index),
          checked: same(spec.default, option.value),
          "aria-describedby": describedBy,
          "aria-invalid": "false",
        }),
      );
      const group = h(
        "div",
        { class: "na-radios" },
        ...radios.map((radio, index) =>
          h("label", { class: "na-radio" }, radio, h("span", { text: options[index].label })),
        ),
      );
      return { control: group, inputs: radios };
    }
    case "textarea":
    case "lines":
    case "json": {
      let text = asText(spec.default);
      if (spec.control === "lines" && Array.isArray(spec.default)) text = spec.default.map(asText).join("\n");
      if (spec.control === "json" && spec.default !== undefined) text = JSON.stringify(spec.default, null, 2);
      const area = h("textarea", {
        ...common,
        rows: spec.control === "json" ? 4 : 3,
        maxlength: spec.maxlength,
        minlength: spec.minlength,
      });
      area.textContent = text;
      return { control: area, inputs: [area] };
    }
    case "file": {
      const input = h("input", { ...common, type: "file", multiple: spec.multiple });
      return { control: input, inputs: [input] };
    }
    default: {
      const type = spec.control === "password" ? "password" : spec.control;
      const input = h("input", {
        ...common,
        type,
        value: spec.control === "password" ? undefined : asText(spec.default) || undefined,
        min: spec.min,
        max: spec.max,
        step: spec.step,
        minlength: spec.minlength,
        maxlength: spec.maxlength,
        pattern: spec.pattern,
        autocomplete: spec.control === "password" ? "off" : undefined,
      });
      return { control: input, inputs: [input] };
    }
  }
}

/**
 * The form built from the kernel's field specs.
 * @param {FieldSpec[]} specs
 * @param {Map<string, FieldView>} fields filled in
 */
function buildFields(specs, fields) {
  return specs.map((spec) => {
    const id = uid(spec.name);
    const helpId = `${id}-help`;
    const errorId = `${id}-error`;
    const describedBy = spec.help ? `${helpId} ${errorId}` : errorId;
    const { control, inputs } = buildControl(spec, id, describedBy);
    const required = spec.required ? h("span", { class: "na-required", "aria-hidden": "true", text: " *" }) : null;
    const error = h("div", { class: "na-field-error", id: errorId, hidden: true });
    const help = spec.help ? h("div", { class: "na-help", id: helpId, text: spec.help }) : null;
    fields.set(spec.name, { inputs, error, spec });
    if (spec.control === "radio") {
      return h(
        "fieldset",
        { class: "na-field", dataset: { field: spec.name, control: spec.control }, "aria-describedby": describedBy },
        h("legend", {}, spec.label, required),
        control,
        help,
        error,
      );
    }
    if (spec.control === "checkbox") {
      return h(
        "div",
        { class: "na-field na-field-checkbox", dataset: { field: spec.name, control: spec.control } },
        h("label", { for: id }, control, h("span", { text: spec.label }), required),
        help,
        error,
      );
    }
    return h(
      "div",
      { class: "na-field", dataset: { field: spec.name, control: spec.control } },
      h("label", { for: id }, spec.label, required),
      control,
      help,
      error,
    );
  });
}

/**
 * The author's markup: inputs map to parameters by name (FormData semantics).
 * @param {HTMLElement} host
 * @param {string} html
 * @returns {HTMLFormElement}
 */
function adoptMarkup(host, html) {
  const template = document.createElement("template");
  template.innerHTML = html;
  let form = template.content.querySelector("form");
  if (!form) {
    form = h("form", {});
    form.append(template.content);
    host.append(form);
  } else {
    host.append(template.content);
  }
  return form;
}

/**
 * Error slots for the author's markup: `[data-error-for=name]` if the markup has one,
 * otherwise a new element right after the (last) input of that name.
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
  const properties = ref.schema?.properties ?? {};
  const closed = ref.schema?.additionalProperties === false;
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
 * Build the form in `el`; `onIdle` is called whenever no call is pending.
 * @param {AnyModel} model
 * @param {HTMLElement} el
 * @param {() => void} onIdle
 */
function build(model, el, onIdle) {
  /** @type {Map<string, FieldView>} */
  const fields = new Map();
  const actionRef = /** @type {ActionRef} */ (model.get("action"));
  const html = String(model.get("html") ?? "");
  const status = h("div", { class: "na-status", role: "status", "aria-live": "polite" });
  const cancel = h("button", { type: "button", class: "na-cancel", hidden: true, text: "Cancel" });
  const general = h("div", { class: "na-general" });
  const output = h("div", { class: "na-output", "aria-live": "polite" });

  /** @type {HTMLFormElement} */
  let form;
  if (html) {
    form = adoptMarkup(el, html);
    const slot = form.querySelector("[data-status]") ?? form;
    slot.append(h("div", { class: "na-controls" }, cancel, status));
    const resultSlot = el.querySelector("[data-result]") ?? el;
    resultSlot.append(general, output);
  } else {
    const label = String(model.get("submit_label") || humanize(actionRef?.name ?? "Submit"));
    const extra = /** @type {Record<string, ActionRef>} */ (model.get("actions") ?? {});
    const description = String(model.get("description") ?? "");
    form = h(
      "form",
      { class: "na-form", novalidate: true, "aria-label": humanize(actionRef?.name ?? "form") },
      description ? h("p", { class: "na-description", text: description }) : null,
      ...buildFields(/** @type {FieldSpec[]} */ (model.get("fields") ?? []), fields),
      h(
        "div",
        { class: "na-controls" },
        h("button", { type: "submit", class: "na-submit", text: label }),
        ...Object.keys(extra).map((key) =>
          h("button", { type: "submit", class: "na-submit", dataset: { action: key }, text: humanize(key) }),
        ),
        cancel,
        status,
      ),
    );
    el.append(form, general, output);
  }

  const submitButtons = () =>
    /** @type {HTMLButtonElement[]} */ (
      Array.from(form.querySelectorAll("button, input[type=submit]")).filter(
        (b) => (b instanceof HTMLButtonElement || b instanceof HTMLInputElement) && b.type === "submit",
      )
    );

  /** @param {FieldError[]} errors @returns {FieldError[]} the errors no field could show */
  const showFieldErrors = (errors) => {
    for (const view of fields.values()) {
      view.error.hidden = true;
      view.error.textContent = "";
      for (const input of view.inputs) input.setAttribute("aria-invalid", "false");
    }
    /** @type {FieldError[]} */
    const unattached = [];
    /** @type {HTMLElement | null} */
    let first = null;
    for (const error of errors) {
      const view = error.field ? (html ? markupField(form, error.field, fields) : fields.get(error.field)) : undefined;
      if (!view) {
        unattached.push(error);
        continue;
      }
      const where = error.loc.length
        ? `Item ${error.loc.map((l) => (typeof l === "number" ? l + 1 : l)).join(".")}: `
        : "";
      const line = h("div", { text: `${where}${error.message}` });
      view.error.append(line);
      view.error.hidden = false;
      for (const input of view.inputs) input.setAttribute("aria-invalid", "true");
      first ??= view.inputs[0] ?? null;
    }
    first?.focus();
    return unattached;
  };

  /** @param {Outcome} outcome */
  const onOutcome = (outcome) => {
    general.replaceChildren();
    if (!outcome.ok && outcome.error instanceof ActionError && outcome.error.kind === "invalid") {
      const unattached = showFieldErrors(outcome.error.errors);
      renderError(outcome.block, outcome.error, unattached);
      return true;
    }
    showFieldErrors([]);
    if (outcome.ok && outcome.latest && model.get("reset") !== false) form.reset();
    return false;
  };

  const runs = new Runs({
    output,
    status,
    cancel,
    busy: form,
    view: () => model.get("result_view") ?? "auto",
    concurrent: () => Boolean(model.get("concurrent")),
    onOutcome,
    onBusy: (busy) => {
      const disable = busy && !model.get("concurrent");
      const buttons = submitButtons();
      if (disable && buttons.some((b) => b === document.activeElement) && !cancel.hidden) cancel.focus();
      for (const button of buttons) button.disabled = disable;
      if (!busy && document.activeElement === cancel) buttons[0]?.focus();
      if (!busy) onIdle();
    },
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const submitter = /** @type {HTMLElement | null} */ (event.submitter ?? null);
    const key = submitter?.dataset.action;
    const ref = key ? /** @type {Record<string, ActionRef>} */ model.get("actions")?.[key] : actionRef;
    if (!ref) {
      general.replaceChildren();
      renderError(
        general,
        new ActionError("not_found", `this form has no action ${JSON.stringify(key)}: give it in Form(actions=...)`),
      );
      return;
    }
    const { args, files, errors } = collect(form, submitter, fields, ref);
    if (errors.length) {
      runs.start(() => Promise.reject(new ActionError("invalid", errors.map((e) => e.message).join("; "), { errors })));
      return;
    }
    runs.start((hooks) => callAction(model, ref, args, { ...hooks, files, encoding: "form" }), {
      streaming: ref.streaming,
    });
  });

  return { busy: () => runs.pending > 0, cancel: () => runs.cancelAll() };
}

/** What the form is built from: a change rebuilds it (once no call is pending). */
const LAYOUT = ["action", "actions", "fields", "html", "description", "submit_label"];

/** @param {{ model: AnyModel, el: HTMLElement }} context */
function render({ model, el }) {
  connectActions(model);
  el.classList.add("na-widget", "na-form-widget");
  let stale = false;
  const onIdle = () => {
    if (stale) rebuild();
  };
  let view = build(model, el, onIdle);
  const rebuild = () => {
    stale = view.busy();
    if (stale) return;
    el.replaceChildren();
    view = build(model, el, onIdle);
  };
  for (const name of LAYOUT) model.on(`change:${name}`, rebuild);
  return () => view.cancel();
}

export default { render };
