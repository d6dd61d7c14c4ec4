// The ActionButton widget's view: one click, one action call (arguments are fixed in
// the kernel); clicks while a call is pending queue, unless the widget is concurrent.

import { callAction, connectActions } from "./client.js";
import { h, Runs } from "./ui.js";

/** @typedef {import("@anywidget/types").AnyModel} AnyModel */
/** @typedef {import("./client.js").ActionRef} ActionRef */

/** @param {{ model: AnyModel, el: HTMLElement }} context */
function render({ model, el }) {
  connectActions(model);
  el.classList.add("na-widget", "na-button-widget");
  const button = h("button", { type: "button", class: "na-button na-action-button" });
  const cancel = h("button", { type: "button", class: "na-button na-cancel", hidden: true, text: "Cancel" });
  const status = h("span", { class: "na-status", role: "status", "aria-live": "polite" });
  const output = h("div", { class: "na-output", "aria-live": "polite" });
  const row = h("div", { class: "na-controls" }, button, cancel, status);
  el.append(row, output);

  const sync = () => {
    const ref = /** @type {ActionRef | null} */ (model.get("action"));
    button.textContent = String(model.get("label") || ref?.name || "Run");
    const tooltip = String(model.get("tooltip") ?? "");
    if (tooltip) button.title = tooltip;
    else button.removeAttribute("title");
  };
  sync();
  model.on("change:label", sync);
  model.on("change:action", sync);

  const runs = new Runs({
    output,
    status,
    cancel,
    busy: row,
    view: () => model.get("result_view") ?? "auto",
    concurrent: () => Boolean(model.get("concurrent")),
  });

  button.addEventListener("click", () => {
    const ref = /** @type {ActionRef} */ (model.get("action"));
    runs.start((hooks) => callAction(model, ref, {}, hooks), { streaming: ref?.streaming });
  });

  return () => runs.cancelAll();
}

export default { render };
