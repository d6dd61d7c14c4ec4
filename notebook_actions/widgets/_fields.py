"""From an action's signature to the controls of its form.

The signature decides the control (FastAPI/magicgui style): str -> text, int/float ->
number with the constraints' min/max/step, bool -> checkbox, Enum/Literal -> select
(radio for a few options), list of Literal -> multi-select, date/datetime/time ->
native pickers, ``UploadedFile`` -> file input, secret -> password (never pre-filled).
Labels come from ``Field(title=...)``, help text from ``Field(description=...)`` or
the docstring's parameter section.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import inspect
import re
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic.fields import FieldInfo
from pydantic_core import to_jsonable_python

from .._action import Action
from .._schema import Param, strip_annotated

#: Up to this many options show as radio buttons instead of a select.
RADIO_MAX = 4

_SECTION = re.compile(
    r"^\s*(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments|Returns?|Yields?|Raises|"
    r"Examples?|Notes?|See Also|Attributes)\s*:?\s*$"
)
_GOOGLE_ITEM = re.compile(r"^(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_NUMPY_ITEM = re.compile(r"^(\w+)\s*(?::.*)?$")
_SPHINX_ITEM = re.compile(r"^:param\s+(?:[^:]*\s)?(\w+)\s*:\s*(.*)$")


def humanize(name: str) -> str:
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def summary(doc: str | None) -> str:
    """The docstring up to its first section (``Args:``, ``Parameters``, ``:param``...)."""
    lines: list[str] = []
    for line in inspect.cleandoc(doc or "").splitlines():
        if _SECTION.match(line) or line.lstrip().startswith(":"):
            break
        lines.append(line)
    return "\n".join(lines).strip()


def param_docs(doc: str | None) -> dict[str, str]:
    """Parameter descriptions from a Google, NumPy or Sphinx style docstring."""
    lines = inspect.cleandoc(doc or "").splitlines()
    found: dict[str, str] = {}
    current: str | None = None
    style: str | None = None
    base_indent = 0
    item_indent = 0
    for index, line in enumerate(lines):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        sphinx = _SPHINX_ITEM.match(stripped)
        if sphinx:
            current, style = sphinx.group(1), "sphinx"
            found[current] = sphinx.group(2).strip()
            continue
        header = _SECTION.match(line)
        if header:
            is_params = header.group(1).lower().startswith(("arg", "param", "keyword"))
            underline = index + 1 < len(lines) and set(lines[index + 1].strip()) == {"-"}
            style = ("numpy" if underline else "google") if is_params else None
            current = None
            base_indent = indent
            continue
        if not stripped:
            continue
        if style == "google":
            item = _GOOGLE_ITEM.match(stripped)
            if indent > base_indent and item and (current is None or indent <= item_indent):
                current = item.group(1).lstrip("*")
                item_indent = indent
                found[current] = item.group(2).strip()
            elif current is not None and indent > base_indent:
                found[current] = f"{found[current]} {stripped}".strip()
            elif indent <= base_indent:
                style, current = None, None
        elif style == "numpy":
            if set(stripped) == {"-"}:
                continue
            item = _NUMPY_ITEM.match(stripped)
            if indent <= base_indent and item:
                current = item.group(1)
                found[current] = ""
            elif current is not None and indent > base_indent:
                found[current] = f"{found[current]} {stripped}".strip()
        elif style == "sphinx" and current is not None and indent > 0:
            found[current] = f"{found[current]} {stripped}".strip()
    return {name: text for name, text in found.items() if text}


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
