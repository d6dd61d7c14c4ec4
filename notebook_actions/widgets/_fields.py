"""From an action's signature to the controls of its form.

The signature decides the control (FastAPI/magicgui style): str -> text, int/float ->
number with the constraints' min/max/step, bool -> checkbox, Enum/Literal -> select
(radio for a few options), list of Literal -> multi-select, date/datetime/time ->
native pickers, ``UploadedFile`` -> file input, secret -> password (never pre-filled).
Labels come from ``Field(title=...)``, help text from ``Field(description=...)`` or
the docstring's parameter section (read by ``docstring_parser``); the submit button's
label from the docstring's title line, else the action's name.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import inspect
from typing import Annotated, Any, Literal, get_args, get_origin

import docstring_parser
from pydantic.fields import FieldInfo
from pydantic_core import to_jsonable_python

from .._action import Action
from .._schema import Param, strip_annotated

#: Up to this many options show as radio buttons instead of a select.
RADIO_MAX = 4

#: Words a label writes in capitals ("summarise_csv" -> "Summarise CSV", "user_ids" ->
#: "User IDs"). form.js's humanize keeps the same list.
ACRONYMS = frozenset(
    {"api", "cpu", "csv", "css", "db", "dns", "gpu", "html", "http", "https", "id", "ip", "json", "jwt"}
    | {"llm", "mcp", "pdf", "sql", "ssh", "svg", "tsv", "ui", "uri", "url", "utc", "uuid", "xml", "yaml"}
)

#: A docstring's first line is its title (a button's label) when it is this short and is
#: not a sentence (no closing punctuation), set apart from the rest by a blank line.
TITLE_MAX = 40


def _word(word: str) -> str:
    lower = word.lower()
    if lower in ACRONYMS:
        return word.upper()
    if lower.endswith("s") and lower[:-1] in ACRONYMS:
        return word[:-1].upper() + "s"
    return word


def humanize(name: str) -> str:
    """``summarise_csv`` -> ``Summarise CSV``: words from the underscores, acronyms in capitals."""
    words = [_word(w) for w in name.replace("_", " ").split()]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def _parsed(doc: str | None) -> docstring_parser.Docstring:
    return docstring_parser.parse(inspect.cleandoc(doc or ""))


def title(doc: str | None) -> str:
    """The docstring's title line ("Summarise a CSV", then a blank line), or ""."""
    parsed = _parsed(doc)
    first = (parsed.short_description or "").strip()
    if not first or len(first) > TITLE_MAX or first[-1] in ".!?:;,":
        return ""
    if parsed.long_description and not parsed.blank_after_short_description:
        return ""  # the first line of a paragraph, not a title
    return first


def summary(doc: str | None) -> str:
    """The docstring's text before its sections (``Args:``, ``Parameters``, ``:param``...),
    without its title line when it has one (that is the button's label)."""
    parsed = _parsed(doc)
    if title(doc):
        return (parsed.long_description or "").strip()
    gap = "\n\n" if parsed.blank_after_short_description else "\n"
    parts = [parsed.short_description or "", parsed.long_description or ""]
    return gap.join(part for part in parts if part).strip()


def label(action: Action[Any]) -> str:
    """What a button that calls ``action`` says: its docstring's title, else its name."""
    return title(action.__doc__) or humanize(action.name)


def param_docs(doc: str | None) -> dict[str, str]:
    """Parameter descriptions from a Google, NumPy or Sphinx style docstring."""
    return {p.arg_name: " ".join(p.description.split()) for p in _parsed(doc).params if p.description}


def _field_info(param: Param) -> tuple[str, str]:
    """``(title, description)`` the author gave with ``Field(...)``, if any."""
    infos: list[FieldInfo] = []
    annotation = param.annotation
    while get_origin(annotation) is Annotated:
        annotation, *metadata = get_args(annotation)
        infos.extend(m for m in metadata if isinstance(m, FieldInfo))
    if isinstance(param.default, FieldInfo):
        infos.append(param.default)
    title = next((i.title for i in infos if i.title), "")
    description = next((i.description for i in infos if i.description), "")
    return title or "", description or ""


def _choices(annotation: Any) -> list[dict[str, Any]] | None:
    annotation = strip_annotated(annotation)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [{"value": to_jsonable_python(m.value), "label": m.name} for m in annotation]
    if get_origin(annotation) is Literal:
        return [{"value": to_jsonable_python(v), "label": str(v)} for v in get_args(annotation)]
    return None


def _item_type(param: Param) -> Any:
    args = get_args(param.base)
    return strip_annotated(args[0]) if args else Any


def _resolve(prop: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The property's own schema: ``$ref`` followed, the ``null`` of ``Optional`` dropped."""
    if "anyOf" in prop:
        members = [m for m in prop["anyOf"] if m.get("type") != "null"]
        if len(members) == 1:
            prop = {**prop, **members[0]}
    ref = prop.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        prop = {**schema.get("$defs", {}).get(ref.removeprefix("#/$defs/"), {}), **prop}
    return prop


def _number(spec: dict[str, Any], prop: dict[str, Any], integer: bool) -> None:
    step = prop.get("multipleOf")
    spec["step"] = step if step is not None else (1 if integer else "any")
    nudge = 1 if integer else 0
    if "minimum" in prop:
        spec["min"] = prop["minimum"]
    elif "exclusiveMinimum" in prop:
        spec["min"] = prop["exclusiveMinimum"] + nudge
    if "maximum" in prop:
        spec["max"] = prop["maximum"]
    elif "exclusiveMaximum" in prop:
        spec["max"] = prop["exclusiveMaximum"] - nudge


def _control(param: Param, prop: dict[str, Any], spec: dict[str, Any]) -> str:
    base = param.base
    if param.is_file:
        spec["multiple"] = param.is_many
        return "file"
    if param.secret:
        return "password"
    if param.is_bool:
        return "checkbox"
    choices = _choices(base)
    if choices is not None:
        if param.optional:
            choices = [{"value": None, "label": "—"}, *choices]
        spec["options"] = choices
        return "radio" if len(choices) <= RADIO_MAX else "select"
    if param.is_many:
        item = _item_type(param)
        item_choices = _choices(item)
        if item_choices is not None:
            spec["options"] = item_choices
            return "multiselect"
        if item in (str, int, float, decimal.Decimal):
            return "lines"
        return "json"
    if base in (int, float, decimal.Decimal):
        _number(spec, prop, integer=base is int)
        return "number"
    if base is datetime.datetime:
        spec["step"] = 1
        return "datetime-local"
    if base is datetime.date:
        return "date"
    if base is datetime.time:
        spec["step"] = 1
        return "time"
    if base is str or base is Any:
        for key, attr in (("minLength", "minlength"), ("maxLength", "maxlength"), ("pattern", "pattern")):
            if key in prop:
                spec[attr] = prop[key]
        text_format = prop.get("format")
        if text_format in ("email", "textarea"):
            return str(text_format)
        if text_format in ("uri", "url"):
            return "url"
        return "text"
    if isinstance(base, type) and prop.get("type") == "string":
        return "text"  # Path, UUID, IP addresses...: typed as text, parsed by validation
    return "json"


def _default(control: str, prop: dict[str, Any]) -> tuple[bool, Any]:
    if "default" not in prop or control in ("file", "password"):
        return False, None
    value = prop["default"]
    if control == "datetime-local" and isinstance(value, str):
        value = value[:19]  # the picker takes no time zone
    if value is None and control not in ("select", "radio", "json"):
        return False, None
    return True, value


def field_spec(param: Param, schema: dict[str, Any], docs: dict[str, str]) -> dict[str, Any]:
    prop = _resolve(schema.get("properties", {}).get(param.name, {}), schema)
    title, description = _field_info(param)
    spec: dict[str, Any] = {
        "name": param.name,
        "label": title or humanize(param.name),
        "required": param.required and not (param.optional or param.is_bool),
    }
    help_text = description or docs.get(param.name, "")
    if help_text:
        spec["help"] = help_text
    control = _control(param, prop, spec)
    spec["control"] = control
    has_default, value = _default(control, prop)
    if has_default:
        spec["default"] = value
    return spec


def form_fields(action: Action[Any]) -> list[dict[str, Any]]:
    """The form's controls for ``action``: JSON for the view, no secret defaults."""
    schema = action.params_schema
    docs = param_docs(action.__doc__)
    return [field_spec(p, schema, docs) for p in action.signature.params]
