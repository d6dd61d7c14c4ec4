"""The app page before (and without) JavaScript: plain HTML forms that post, then a redirect.

Every ``Form`` (built from its signature) and every ``<form>`` of a ``View`` is written into
the page as a form that posts (urlencoded, or multipart with a file) to
``{page}/_post/{model_id}/{key}``, with the XSRF token. The server calls the action and
answers 303 back to the page (Post/Redirect/Get); the outcome travels in a signed cookie
that the next page load reads and clears: the result, or the per-field errors next to
their fields with what the visitor typed. With JavaScript, the loader replaces these forms
with the live widgets, which submit in place.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

#: The signed cookie that carries one post's outcome to the page it redirects to.
FLASH_COOKIE = "notebook_actions_flash"
#: What a flash may hold of a result's text (a cookie holds about 4 KB).
FLASH_TEXT = 1500

_FORM_TAG = re.compile(r"<form\b([^>]*)>", re.IGNORECASE)
_BUTTON_TAG = re.compile(r"<button\b([^>]*)>", re.IGNORECASE)
_DATA_ACTION = re.compile(r"""\bdata-action\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)

_INPUT_TYPES = {
    "text": "text",
    "email": "email",
    "url": "url",
    "password": "password",
    "number": "number",
    "date": "date",
    "time": "time",
    "datetime-local": "datetime-local",
}


def _attr(name: str, value: Any) -> str:
    return f' {name}="{html.escape(str(value), quote=True)}"'


def _data_action(attrs: str) -> str | None:
    found = _DATA_ACTION.search(attrs)
    return next((group for group in found.groups() if group is not None), None) if found else None


def result_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, indent=2, default=str)


def _flash_block(flash: dict[str, Any] | None) -> str:
    """The outcome of the last post, above the form (errors about the call as a whole)."""
    if not flash:
        return ""
    if flash.get("kind") == "result":
        return f'<pre class="na-result na-app-flash" role="status">{html.escape(str(flash.get("text", "")))}</pre>'
    general = [e["message"] for e in flash.get("errors", []) if not e.get("field")]
    if flash.get("kind") == "invalid" and not general:
        return ""
    text = "; ".join(general) if flash.get("kind") == "invalid" else str(flash.get("text", ""))
    return f'<p class="na-error na-app-flash" role="alert">{html.escape(text)}</p>'


def view_forms(view_html: str, post_url: str, xsrf: str, flash: dict[str, Any] | None) -> str:
    """A view's HTML with each form posting to its action (a button's ``data-action`` as its
    ``formaction``), and the last post's outcome above it."""

    def form(match: re.Match[str]) -> str:
        attrs = match.group(1)
        name = _data_action(attrs) or ""
        extra = _attr("method", "post") + _attr("action", post_url + name) + _attr("enctype", "multipart/form-data")
        return f"<form{attrs}{extra}><input type='hidden' name='_xsrf'{_attr('value', xsrf)}>"

    def button(match: re.Match[str]) -> str:
        attrs = match.group(1)
        name = _data_action(attrs)
        return f"<button{attrs}{_attr('formaction', post_url + name) if name else ''}>"

    return _flash_block(flash) + _BUTTON_TAG.sub(button, _FORM_TAG.sub(form, view_html))


def _options(spec: dict[str, Any], typed: str | None) -> list[tuple[str, str, bool]]:
    """Each option's value (as a form sends it), label and whether it is chosen."""
    default = spec.get("default")
    chosen = typed if typed is not None else ("" if default is None else str(default))
    out = []
    for option in spec.get("options", []):
        value = "" if option.get("value") is None else str(option.get("value"))
        out.append((value, str(option.get("label", value)), value == chosen))
    return out


def _control(spec: dict[str, Any], typed: str | None) -> str:
    name, control = str(spec["name"]), str(spec.get("control", "text"))
    common = _attr("name", name) + _attr("id", f"na-app-{name}") + (" required" if spec.get("required") else "")
    default = spec.get("default")
    value = typed if typed is not None else ("" if default is None or control == "password" else default)
    if control == "checkbox":
        checked = (typed == "on") if typed is not None else bool(default)
        ident = _attr("name", name) + _attr("id", f"na-app-{name}")
        return f"<input type='checkbox'{ident}{' checked' if checked else ''}>"
    if control in ("select", "radio", "multiselect"):
        options = "".join(
            f"<option{_attr('value', v)}{' selected' if chosen else ''}>{html.escape(label)}</option>"
            for v, label, chosen in _options(spec, typed)
        )
        return f"<select{common}{' multiple' if control == 'multiselect' else ''}>{options}</select>"
    if control == "file":
        return f"<input type='file'{common}{' multiple' if spec.get('multiple') else ''}>"
    if control in ("textarea", "lines", "json"):
        shown = value if isinstance(value, str) else json.dumps(value)
        return f"<textarea{common} rows='3'>{html.escape(shown)}</textarea>"
    limits = "".join(_attr(key, spec[key]) for key in ("min", "max", "step", "minlength", "maxlength") if key in spec)
    return f"<input{_attr('type', _INPUT_TYPES.get(control, 'text'))}{common}{limits}{_attr('value', value)}>"


def humanize(name: str) -> str:
    """The label form.js derives from an action's name."""
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


#: What a widget that has no form of its own says before (and without) JavaScript.
NEEDS_JAVASCRIPT = "This part of the page needs JavaScript."


def static_form(state: dict[str, Any], post_url: str, xsrf: str, flash: dict[str, Any] | None) -> str:
    """A ``Form`` widget as a plain HTML form (its signature's fields), an ``ActionButton``
    as a form of one button (its arguments are bound in the kernel), or a note for a form
    the author wrote in HTML and a custom ``ActionWidget`` (they need JavaScript)."""
    action = state.get("action") or {}
    fields = state.get("fields") or []
    form_or_button = "fields" in state or ("label" in state and "result_view" in state)
    if state.get("html") or not form_or_button or not isinstance(action, dict) or "id" not in action:
        return f"<p class='na-app-note na-app-needs-js'>{NEEDS_JAVASCRIPT}</p>"
    typed: dict[str, str] = (flash or {}).get("values", {})
    errors: dict[str, list[str]] = {}
    for error in (flash or {}).get("errors", []):
        errors.setdefault(str(error.get("field") or ""), []).append(str(error.get("message", "")))
    multipart = any(f.get("control") == "file" for f in fields)
    parts = [
        (
            f"<form class='na-app-form' method='post'{_attr('action', post_url)}"
            f"{_attr('enctype', 'multipart/form-data' if multipart else 'application/x-www-form-urlencoded')}"
            f"{_attr('aria-label', humanize(str(action.get('name', ''))))}>"
        ),
        f"<input type='hidden' name='_xsrf'{_attr('value', xsrf)}>",
    ]
    if state.get("description"):
        parts.append(f"<p class='na-description'>{html.escape(str(state['description']))}</p>")
    for spec in fields:
        name = str(spec["name"])
        parts.append(f"<div class='na-field'{_attr('data-field', name)}>")
        label = html.escape(str(spec.get("label", name)))
        if spec.get("required"):
            label += " <span aria-hidden='true'>*</span>"
        parts.append(f"<label{_attr('for', f'na-app-{name}')}>{label}</label>")
        parts.append(_control(spec, typed.get(name)))
        if spec.get("help"):
            parts.append(f"<small class='na-help'>{html.escape(str(spec['help']))}</small>")
        parts.extend(f"<p class='na-field-error' role='alert'>{html.escape(m)}</p>" for m in errors.get(name, []))
        parts.append("</div>")
    # A Form's submit_label, or an ActionButton's label.
    label = str(state.get("submit_label") or state.get("label") or humanize(str(action.get("name", "Submit"))))
    tooltip = _attr("title", state["tooltip"]) if state.get("tooltip") else ""
    parts.append(f"<button type='submit' class='na-submit'{tooltip}>{html.escape(label)}</button>")
    submit = "<button type='submit' class='na-submit'"
    parts.extend(
        f"{submit}{_attr('formaction', post_url + key)}>{html.escape(humanize(key))}</button>"
        for key in state.get("actions") or {}
    )
    parts.append("</form>")
    parts.append(_flash_block(flash))
    return "".join(parts)
