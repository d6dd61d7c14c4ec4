"""The notebook_actions widgets as a person meets them on the page (see widgets/form.js, ui.js)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Locator, Page

from notebook_actions.widgets._fields import humanize  # form.js's aria-label, the same rule

# Records every state the widget passes through (a pending state may last only milliseconds).
RECORD = """(widget) => {
  const states = [];
  const snap = () => {
    const form = widget.querySelector("form");
    const submit = widget.querySelector("button.na-submit, .na-action-button");
    const cancel = widget.querySelector("button.na-cancel");
    const state = {
      busy: (form ?? widget.querySelector(".na-controls"))?.getAttribute("aria-busy") ?? null,
      disabled: submit ? submit.disabled : null,
      cancel: cancel ? !cancel.hidden : null,
      status: widget.querySelector(".na-status")?.textContent ?? "",
      progress: Array.from(widget.querySelectorAll(".na-progress-label"), (el) => el.textContent).join("|"),
    };
    const last = states[states.length - 1];
    if (!last || JSON.stringify(last) !== JSON.stringify(state)) states.push(state);
  };
  snap();
  new MutationObserver(snap).observe(widget, { attributes: true, childList: true, subtree: true, characterData: true });
  widget.__e2eStates = states;
}"""


class Form:
    """A notebook_actions Form widget on the page."""

    def __init__(self, widget: Locator) -> None:
        self.widget = widget
        self.form = widget.locator("form").first
        self.status = widget.locator(".na-status")
        self.submit_button = widget.locator("button.na-submit").first
        self.cancel = widget.locator("button.na-cancel")
        self.output = widget.locator(".na-output")
        self.run = widget.locator(".na-output .na-run").last
        self.result = widget.locator(".na-output .na-run[data-revealed='true'] .na-result")
        self.alert = widget.locator("[role='alert']")
        self.progress = self.run.locator(".na-progress-label")
        self.stream = self.run.locator(".na-stream")

    @classmethod
    def of(cls, page: Page, action: str) -> Form:
        """The Form of an action, found by the label it derives from the action's name."""
        return cls(page.locator(".na-form-widget").filter(has=page.locator(f"form[aria-label={humanize(action)!r}]")))

    def field(self, name: str) -> Locator:
        """The control of a parameter (its first input, select or textarea)."""
        return self.widget.locator(f".na-field[data-field={name!r}]").locator("input, select, textarea").first

    def error(self, name: str) -> Locator:
        return self.widget.locator(f".na-field[data-field={name!r}] .na-field-error")

    def choice(self, name: str, label: str) -> Locator:
        """One radio button of a parameter, by its label."""
        return self.widget.locator(f".na-field[data-field={name!r}]").get_by_label(label, exact=True)

    def fill(self, **values: str) -> None:
        """Type into text controls, pick from selects and radio groups (by the option's label)."""
        for name, value in values.items():
            control = self.field(name)
            kind = control.evaluate("(el) => el.type")
            if kind.startswith("select"):
                control.select_option(label=value)
            elif kind == "radio":
                self.choice(name, value).check()
            else:
                control.fill(value)

    def submit(self) -> None:
        self.submit_button.click()

    def record(self) -> None:
        """Start recording the widget's states; read them with states()."""
        self.widget.evaluate(RECORD)

    def states(self) -> list[dict[str, Any]]:
        return list(self.widget.evaluate("(widget) => widget.__e2eStates ?? []"))
