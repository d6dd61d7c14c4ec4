// Keys typed in a widget's forms belong to the forms. JupyterLab (and Notebook 7) bind
// Enter, Shift+Enter and Ctrl+Enter on the notebook (run the cell, edit it, ...) and
// JupyterLab 4.6 swallows the browser's implicit submission, so a form there would not
// submit on Enter and Shift+Enter in a field would re-run the cell, replacing the form.
// JupyterLab listens for shortcuts on the document in the bubbling phase (as ipywidgets'
// own Text relies on), so a keydown stopped in the widget never reaches it.

/** Single-line inputs, where Enter submits the form (HTML's implicit submission). */
const SUBMITS_ON_ENTER = new Set([
  "text",
  "search",
  "url",
  "tel",
  "email",
  "password",
  "number",
  "date",
  "month",
  "week",
  "time",
  "datetime-local",
]);

/**
 * Submit `form` as Enter in one of its fields does: through its default (first) submit
 * button, so that the button's action is the one called; not at all if that button is
 * disabled (a call is pending).
 * @param {HTMLFormElement} form
 */
function submitImplicitly(form) {
  const button = Array.from(form.elements).find(
    (el) => (el instanceof HTMLButtonElement || el instanceof HTMLInputElement) && el.type === "submit",
  );
  if (!button) {
    form.requestSubmit();
    return;
  }
  const submitter = /** @type {HTMLButtonElement | HTMLInputElement} */ (button);
  if (!submitter.disabled) form.requestSubmit(submitter);
}

/**
 * Keep every keydown inside `root` from reaching the notebook, and submit a form on a
 * plain Enter in one of its single-line inputs (a textarea keeps Enter for new lines,
 * a button for a click); Enter with a modifier there does nothing.
 * @param {HTMLElement} root
 */
export function keepKeys(root) {
  root.addEventListener("keydown", (event) => {
    event.stopPropagation();
    const target = event.target;
    if (event.key !== "Enter" || event.isComposing) return;
    if (!(target instanceof HTMLInputElement) || !SUBMITS_ON_ENTER.has(target.type) || !target.form) return;
    // Ours instead of the browser's implicit submission, which Chromium also does for
    // Shift+Enter and Ctrl+Enter: there those do nothing, so that a habit from the
    // notebook ("run this") never sends a half-filled form.
    event.preventDefault();
    if (!(event.shiftKey || event.ctrlKey || event.altKey || event.metaKey)) submitImplicitly(target.form);
  });
}
