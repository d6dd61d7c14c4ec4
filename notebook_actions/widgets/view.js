// The View widget's view: HTML rendered in the kernel, with live forms inside (the
// Next.js list pattern). Every <form> in it submits to the held action its
// `data-action` names (a button's `data-action` overrides the form's, as `formAction`
// does), through the same LiveForm as the Form widget.
//
// Re-renders and replies travel differently: ipywidgets applies a state update (the new
// HTML) through a chain of promises, while a custom message (an action's reply) is
// handled at once. So the kernel announces each render on the custom channel, in order
// with the replies, and a form that was answered waits for the HTML announced before
// its reply: it stays pending until its row shows the new state, with no flash of the old.

import { ActionError, connectActions, DISCONNECTED } from "./client.js";
import { keepKeys } from "./keys.js";
import { formUI, LiveForm } from "./submit.js";
import { h, renderError } from "./ui.js";

/** @typedef {import("@anywidget/types").AnyModel} AnyModel */
/** @typedef {import("./client.js").ActionRef} ActionRef */
/** @typedef {import("./submit.js").FormUI} FormUI */

/** The key of the kernel's render announcements among the widget's custom messages. */
const ANNOUNCE = "notebook_actions_view";

/** @param {AnyModel} model @returns {Record<string, ActionRef>} */
function heldActions(model) {
  return model.get("actions") ?? {};
}

/** @param {AnyModel} model */
function heldNames(model) {
  const names = Object.keys(heldActions(model));
  return names.length ? names.map((n) => JSON.stringify(n)).join(", ") : "none";
}

/**
 * The action a submission calls: the submitter's `data-action`, else the form's.
 * @param {AnyModel} model
 * @param {HTMLElement | null} submitter
 * @param {HTMLFormElement} form
 * @returns {ActionRef | ActionError}
 */
function resolve(model, submitter, form) {
  const name = submitter?.dataset.action ?? form.dataset.action;
  if (!name) {
    return new ActionError(
      "not_found",
      `this form names no action: add data-action="…" to the <form> or its button (this view holds ${heldNames(model)})`,
    );
  }
  const ref = heldActions(model)[name];
  if (ref) return ref;
  return new ActionError(
    "not_found",
    `this view holds no action ${JSON.stringify(name)}: pass it in View(render, actions=[...]) ` +
      `(it holds ${heldNames(model)})`,
  );
}

/**
 * Which form of the next render is "the same" form: its `data-key` or `id`, else its
 * action and hidden inputs (the row's id, in the list pattern).
 * @param {HTMLFormElement} form
 */
function identity(form) {
  if (form.dataset.key) return `key:${form.dataset.key}`;
  if (form.id) return `id:${form.id}`;
  const hidden = Array.from(
    form.querySelectorAll("input[type=hidden]"),
    (input) => `${/** @type {HTMLInputElement} */ (input).name}=${/** @type {HTMLInputElement} */ (input).value}`,
  );
  return `${form.dataset.action ?? ""}?${hidden.join("&")}`;
}

/** @param {HTMLElement} content @returns {Map<string, HTMLFormElement>} */
function keyedForms(content) {
  /** @type {Map<string, HTMLFormElement>} */
  const forms = new Map();
  for (const form of content.querySelectorAll("form")) {
    const base = identity(form);
    let key = base;
    for (let n = 2; forms.has(key); n += 1) key = `${base}#${n}`;
    forms.set(key, form);
  }
  return forms;
}

/**
 * The form's status and Cancel go in its `[data-status]` element (else at its end), its
 * errors and results in `[data-result]` (else at its end).
 * @param {HTMLFormElement} form
 * @param {FormUI} ui
 */
function place(form, ui) {
  const controls = ui.status.parentElement ?? h("span", { class: "na-controls" });
  controls.append(ui.cancel, ui.status);
  (form.querySelector("[data-status]") ?? form).append(controls);
  (form.querySelector("[data-result]") ?? form).append(ui.general, ui.output);
}

/**
 * Remember which control of which form has the focus, to give it back after a re-render
 * (replacing or moving a focused element drops the focus to the page).
 * @param {Map<string, LiveForm>} live
 * @returns {(forms: Map<string, HTMLFormElement>) => void}
 */
function keepFocus(live) {
  const focused = document.activeElement;
  for (const [key, form] of live) {
    if (!(focused instanceof HTMLElement) || !form.form.contains(focused)) continue;
    const cancel = form.options.ui.cancel;
    const index = Array.from(form.form.elements).indexOf(/** @type {Element} */ (focused));
    return (forms) => {
      if (document.activeElement !== document.body && document.activeElement !== null) return;
      // A pending form's Cancel moved with it (its submit button gets the focus back after).
      if (focused === cancel && cancel.isConnected && !cancel.hidden) {
        cancel.focus();
        return;
      }
      const target = forms.get(key)?.elements[index];
      if (target instanceof HTMLElement) target.focus();
    };
  }
  return () => {};
}

/** @param {{ model: AnyModel, el: HTMLElement }} context */
function render({ model, el }) {
  const connection = connectActions(model);
  el.classList.add("na-widget", "na-view");
  keepKeys(el);
  // Problems in the view's own HTML (for its author), and failures of rows that are gone.
  const notice = h("div", { class: "na-view-notice" });
  const content = h("div", { class: "na-view-content" });
  el.append(notice, content);

  const rendered = () => Number(model.get("rendered") ?? 0);
  let announced = rendered();
  /** @type {Set<() => void>} */
  const waiting = new Set();
  const caughtUp = () => rendered() >= announced || connection.disconnected;
  const release = (all = false) => {
    if (!all && !caughtUp()) return;
    for (const done of waiting) done();
    waiting.clear();
  };
  /** @returns {Promise<void>} */
  const whenRendered = () => (caughtUp() ? Promise.resolve() : new Promise((done) => waiting.add(done)));
  const onMessage = (/** @type {any} */ message) => {
    const render = message?.[ANNOUNCE];
    if (render && typeof render.rendered === "number") announced = Math.max(announced, render.rendered);
  };
  model.on("msg:custom", onMessage);

  /** @param {unknown} error */
  const showLost = (error) => {
    notice.replaceChildren();
    renderError(notice, error);
  };

  /** @param {HTMLFormElement} form */
  const liveForm = (form) => {
    const ui = formUI();
    place(form, ui);
    return new LiveForm({
      model,
      form,
      ui,
      resolve: (submitter, current) => resolve(model, submitter, current),
      view: () => model.get("result_view") ?? "none",
      reset: () => true,
      settle: whenRendered,
      quietSuccess: true,
      onLost: showLost,
    });
  };

  /** Author errors: `data-action` names that no held action answers to. */
  const checkNames = () => {
    const held = heldActions(model);
    const named = Array.from(content.querySelectorAll("[data-action]"), (node) =>
      String(/** @type {HTMLElement} */ (node).dataset.action),
    );
    const unknown = [...new Set(named)].filter((name) => !(name in held));
    notice.replaceChildren();
    if (unknown.length) {
      const names = unknown.map((n) => JSON.stringify(n)).join(", ");
      renderError(
        notice,
        new ActionError(
          "not_found",
          `This view's HTML names actions it does not hold: ${names}. Pass them to View(render, actions=[...]) ` +
            `(it holds ${heldNames(model)}).`,
        ),
      );
    }
  };

  /** @type {Map<string, LiveForm>} */
  let live = new Map();
  /** Forms removed by a re-render while their calls were still running. */
  /** @type {Set<LiveForm>} */
  const gone = new Set();
  /** @type {string | null} */
  let painted = null;
  const paint = () => {
    const html = String(model.get("value") ?? "");
    if (html === painted) return;
    painted = html;
    const refocus = keepFocus(live);
    content.innerHTML = html;
    const forms = keyedForms(content);
    /** @type {Map<string, LiveForm>} */
    const next = new Map();
    for (const [key, form] of forms) {
      const previous = live.get(key);
      if (previous?.busy) {
        // Still running: the new form carries on its pending state.
        previous.attach(form, (ui) => place(form, ui));
        live.delete(key);
        next.set(key, previous);
      } else {
        next.set(key, liveForm(form));
      }
    }
    for (const old of live.values()) if (old.busy) gone.add(old);
    for (const old of gone) if (!old.busy) gone.delete(old);
    live = next;
    checkNames();
    refocus(forms);
  };

  paint();
  model.on("change:value", paint);
  model.on("change:rendered", () => {
    paint();
    release();
  });
  model.on("change:actions", checkNames);
  model.on(`change:${DISCONNECTED}`, () => release());

  return () => {
    model.off("msg:custom", onMessage);
    for (const form of [...live.values(), ...gone]) form.cancel();
    release(true);
  };
}

export default { render };
