// The Form widget's view: a form built from the action's signature (or the author's
// own markup), submitted as an action call with pending state, field errors, results,
// streamed progress and Cancel.

import { ActionError, connectActions } from "./client.js";
import { keepKeys } from "./keys.js";
import { formUI, LiveForm } from "./submit.js";
import { h, uid } from "./ui.js";

/** @typedef {import("@anywidget/types").AnyModel} AnyModel */
/** @typedef {import("./client.js").ActionRef} ActionRef */
/** @typedef {import("./submit.js").FieldSpec} FieldSpec */
/** @typedef {import("./submit.js").FieldView} FieldView */

/** Words a label writes in capitals: the same as ACRONYMS in widgets/_fields.py. */
const ACRONYMS = new Set(
  "api cpu csv css db dns gpu html http https id ip json jwt llm mcp pdf sql ssh svg tsv ui uri url utc uuid xml yaml".split(
    " ",
  ),
);

/** @param {string} word */
function capitalised(word) {
  const lower = word.toLowerCase();
  if (ACRONYMS.has(lower)) return word.toUpperCase();
  if (lower.endsWith("s") && ACRONYMS.has(lower.slice(0, -1))) return `${word.slice(0, -1).toUpperCase()}s`;
  return word;
}

/** `summarise_csv` -> `Summarise CSV`, as `humanize` in widgets/_fields.py. @param {string} name */
function humanize(name) {
  const text = name.replace(/_/g, " ").split(/\s+/).filter(Boolean).map(capitalised).join(" ");
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
 * Build the form in `el`; `onIdle` is called whenever no call is pending.
 * @param {AnyModel} model
 * @param {HTMLElement} el
 * @param {() => void} onIdle
 * @returns {LiveForm}
 */
function build(model, el, onIdle) {
  const actionRef = /** @type {ActionRef} */ (model.get("action"));
  const html = String(model.get("html") ?? "");
  const ui = formUI();
  /** @type {Map<string, FieldView> | undefined} */
  let fields;

  /** @type {HTMLFormElement} */
  let form;
  if (html) {
    form = adoptMarkup(el, html);
    const slot = form.querySelector("[data-status]") ?? form;
    slot.append(h("div", { class: "na-controls" }, ui.cancel, ui.status));
    const resultSlot = el.querySelector("[data-result]") ?? el;
    resultSlot.append(ui.general, ui.output);
  } else {
    fields = new Map();
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
        h("button", { type: "submit", class: "na-button na-primary na-submit", text: label }),
        ...Object.keys(extra).map((key) =>
          h("button", {
            type: "submit",
            class: "na-button na-primary na-submit",
            dataset: { action: key },
            text: humanize(key),
          }),
        ),
        ui.cancel,
        ui.status,
      ),
    );
    el.append(form, ui.general, ui.output);
  }

  return new LiveForm({
    model,
    form,
    ui,
    fields,
    resolve: (submitter) => {
      const key = submitter?.dataset.action;
      /** @type {Record<string, ActionRef> | undefined} */
      const extra = model.get("actions");
      const ref = key ? extra?.[key] : actionRef;
      if (ref) return ref;
      return new ActionError(
        "not_found",
        `this form has no action ${JSON.stringify(key)}: give it in Form(actions=...)`,
      );
    },
    view: () => model.get("result_view") ?? "auto",
    reset: () => model.get("reset") !== false,
    onIdle,
  });
}

/** What the form is built from: a change rebuilds it (once no call is pending). */
const LAYOUT = ["action", "actions", "fields", "html", "description", "submit_label"];

/** @param {{ model: AnyModel, el: HTMLElement }} context */
function render({ model, el }) {
  connectActions(model);
  el.classList.add("na-widget", "na-form-widget");
  keepKeys(el);
  let stale = false;
  const onIdle = () => {
    if (stale) rebuild();
  };
  let view = build(model, el, onIdle);
  const rebuild = () => {
    stale = view.busy;
    if (stale) return;
    el.replaceChildren();
    view = build(model, el, onIdle);
  };
  for (const name of LAYOUT) model.on(`change:${name}`, rebuild);
  return () => view.cancel();
}

export default { render };
