"""From a function's signature to validation, coercion and JSON Schema (pydantic v2).

The signature is the one source of truth: type hints decide how arguments from a
client are coerced and validated, what the JSON Schema says, and (in the widgets)
which form control each parameter gets.
"""

from __future__ import annotations

import collections.abc
import enum
import inspect
import types
import typing
import warnings
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PydanticUserError,
    TypeAdapter,
    ValidationError,
    create_model,
)
from pydantic.json_schema import PydanticJsonSchemaWarning
from pydantic_core import PydanticSerializationError, to_jsonable_python

from ._files import UploadedFile
from ._protocol import FieldError
from ._secret import is_secret

_EMPTY = inspect.Parameter.empty
_SEQUENCE_ORIGINS = (list, set, frozenset, tuple, collections.abc.Sequence, collections.abc.Set)
_STREAM_ORIGINS = (
    collections.abc.Iterator,
    collections.abc.Iterable,
    collections.abc.Generator,
    collections.abc.AsyncIterator,
    collections.abc.AsyncIterable,
    collections.abc.AsyncGenerator,
)


class InvalidArguments(Exception):
    """The arguments a client sent do not fit the signature; ``errors`` says where."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e['field'] or 'arguments'}: {e['message']}" for e in errors))
        self.errors = errors


class UnserializableResult(TypeError):
    """An action returned something that cannot be sent to a client."""


def strip_annotated(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _without_none(annotation: Any) -> tuple[Any, bool]:
    """``Optional[T]`` -> ``(T, True)``; anything else -> ``(annotation, False)``."""
    annotation = strip_annotated(annotation)
    if get_origin(annotation) in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) < len(get_args(annotation)):
            inner = members[0] if len(members) == 1 else Union[tuple(members)]  # noqa: UP007
            return strip_annotated(inner), True
    return annotation, annotation is Any or annotation is None


@dataclass(frozen=True)
class Param:
    """One parameter of an action, with what the transports need to know about it."""

    name: str
    annotation: Any
    default: Any
    kind: inspect._ParameterKind
    secret: bool

    @property
    def required(self) -> bool:
        return self.default is _EMPTY

    @cached_property
    def base(self) -> Any:
        """The annotation without ``Annotated`` and ``Optional``."""
        return _without_none(self.annotation)[0]

    @cached_property
    def optional(self) -> bool:
        return _without_none(self.annotation)[1]

    @cached_property
    def is_bool(self) -> bool:
        return self.base is bool

    @cached_property
    def is_many(self) -> bool:
        """A collection: a form may send the field several times."""
        return get_origin(self.base) in _SEQUENCE_ORIGINS or self.base in (list, set, tuple)

    @cached_property
    def is_file(self) -> bool:
        base = self.base
        if self.is_many and get_args(base):
            base = strip_annotated(get_args(base)[0])
        return base is UploadedFile

    @cached_property
    def is_str(self) -> bool:
        return self.base is str

    @cached_property
    def form_choices(self) -> dict[str, Any]:
        """For ``Literal``/``Enum`` choices that are not strings (``Literal[1, 2]``): the
        string a form sends for each choice -> the value to validate."""
        base = self.base
        if self.is_many and get_args(base):
            base = _without_none(get_args(base)[0])[0]
        if get_origin(base) is Literal:
            values = list(get_args(base))
        elif isinstance(base, type) and issubclass(base, enum.Enum):
            values = [member.value for member in base]
        else:
            return {}
        return {str(v): v for v in values if not isinstance(v, str)}


def resolve_hints(func: Any) -> dict[str, Any]:
    """Type hints of ``func``, also where annotations are strings
    (``from __future__ import annotations``) naming classes from earlier cells or
    names the enclosing function closed over."""
    localns: dict[str, Any] = {}
    if getattr(func, "__closure__", None):
        localns.update(inspect.getclosurevars(func).nonlocals)
    try:
        return typing.get_type_hints(func, globalns=func.__globals__, localns=localns, include_extras=True)
    except NameError as err:
        message = (
            f"cannot resolve the type hints of {func.__qualname__!r}: {err}. "
            "Define the class before the action is used (run its cell first)."
        )
        raise TypeError(message) from err


def _chunk_type(annotation: Any) -> Any:
    """``Iterator[T]``, ``AsyncGenerator[T, None]``... -> ``T``."""
    if get_origin(annotation) in _STREAM_ORIGINS and get_args(annotation):
        return get_args(annotation)[0]
    return _EMPTY


class Signature:
    """Validation and JSON Schema for one function's parameters and result."""

    def __init__(
        self, func: Any, name: str, *, streaming: bool, skip: int = 0, fixed: frozenset[str] = frozenset()
    ) -> None:
        """``skip`` leading parameters and the ``fixed`` names are bound in the kernel:
        clients neither see nor send them."""
        self.name = name
        sig = inspect.signature(func)
        hints = resolve_hints(func)
        params: list[Param] = []
        for p in list(sig.parameters.values())[skip:]:
            if p.name in fixed:
                continue
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                star = "*" if p.kind is p.VAR_POSITIONAL else "**"
                message = (
                    f"action {name!r} takes {star}{p.name}: clients call actions with named "
                    "arguments, so give each argument its own parameter"
                )
                raise TypeError(message)
            annotation = hints.get(p.name, Any)
            params.append(Param(p.name, annotation, p.default, p.kind, is_secret(annotation)))
        self.params = params
        returns = hints.get("return", _EMPTY)
        self._returns = _chunk_type(returns) if streaming else returns
        try:
            self.model = self._make_model()
        except PydanticUserError as err:
            message = f"action {name!r}: pydantic cannot validate its parameters: {err.message}"
            raise TypeError(message) from None

    def _make_model(self) -> type[BaseModel]:
        # Fields get neutral names and the parameter's name as alias, so a parameter
        # called `json` or `copy` cannot clash with BaseModel's own attributes.
        fields: dict[str, Any] = {}
        for index, p in enumerate(self.params):
            default = ... if p.required else p.default
            fields[f"p{index}"] = (p.annotation, Field(default, alias=p.name))
        config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, validate_by_alias=True)
        return create_model(f"{self.name}_arguments", __config__=config, **fields)

    @cached_property
    def _return_adapter(self) -> TypeAdapter[Any] | None:
        if self._returns is _EMPTY or self._returns is Any:
            return None
        try:
            return TypeAdapter(self._returns)
        except Exception:  # an annotation pydantic cannot use: fall back to plain JSON
            return None

    @cached_property
    def params_schema(self) -> dict[str, Any]:
        with warnings.catch_warnings():
            # A default that is not JSON (an object, a function) is left out of the schema.
            warnings.simplefilter("ignore", PydanticJsonSchemaWarning)
            schema = self.model.model_json_schema(by_alias=True)
        schema["title"] = self.name
        for p in self.params:
            prop = schema.get("properties", {}).get(p.name)
            if prop is not None and p.secret:
                prop.pop("default", None)
                prop.pop("examples", None)
                prop.update(writeOnly=True, format="password")
        return schema

    @cached_property
    def returns_schema(self) -> dict[str, Any]:
        if self._return_adapter is None:
            return {}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", PydanticJsonSchemaWarning)
                return self._return_adapter.json_schema(mode="serialization")
        except Exception:  # no JSON Schema for this type: say nothing rather than fail
            return {}

    def validate(self, raw: Any, *, form: bool = False) -> tuple[list[Any], dict[str, Any]]:
        """Coerce and validate a client's arguments; return ``(args, kwargs)`` for the call."""
        if not isinstance(raw, dict):
            raise InvalidArguments(
                [_error("", [], f"arguments must be an object of named values, not {type(raw).__name__}", "type")]
            )
        repeated: list[FieldError] = []
        data = self._from_form(raw, repeated) if form else raw
        try:
            model = self.model.model_validate(data)
        except ValidationError as err:
            shown = {e["field"] for e in repeated}  # left out of `data`, so "missing" too
            errors = self._field_errors(err, form=form)
            raise InvalidArguments(repeated + [e for e in errors if e["field"] not in shown]) from None
        if repeated:
            raise InvalidArguments(repeated)
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for index, p in enumerate(self.params):
            value = getattr(model, f"p{index}")
            if p.kind is inspect.Parameter.POSITIONAL_ONLY:
                args.append(value)
            else:
                kwargs[p.name] = value
        return args, kwargs

    def _from_form(self, raw: dict[str, Any], repeated: list[FieldError]) -> dict[str, Any]:
        """HTML form semantics: strings in, repeated names as lists, checkboxes absent when off,
        an empty field of a required parameter missing (its asterisk promised as much: JSON's
        ``""`` stays a string). A name sent several times for one value goes to ``repeated``."""
        data: dict[str, Any] = {}
        known = {p.name: p for p in self.params}
        for key, sent in raw.items():
            p = known.get(key)
            if p is None:
                data[key] = sent  # reported as unexpected by validation
                continue
            value = sent
            if isinstance(value, list) and not p.is_many:
                if len(value) > 1:
                    message = f"{key!r} was sent {len(value)} times, but takes one value: send it once."
                    repeated.append(_error(key, [], message, "repeated_field"))
                    continue
                value = value[0] if value else ""
            if not isinstance(value, list) and p.is_many:
                value = [] if value == "" else [value]
            if p.form_choices:
                value = (
                    [p.form_choices.get(v, v) for v in value]
                    if isinstance(value, list)
                    else p.form_choices.get(value, value)
                )
            if value == "" and (p.optional or p.required or not p.is_str):
                if p.is_bool:
                    value = False
                elif p.optional:
                    value = None
                else:
                    continue  # empty: the default applies, or "required" is reported
            data[key] = value
        for p in self.params:
            if p.name not in data and p.is_bool and p.name not in raw:
                data[p.name] = False  # an unticked checkbox sends nothing
        return data

    def _field_errors(self, err: ValidationError, *, form: bool = False) -> list[FieldError]:
        names = ", ".join(p.name for p in self.params) or "no arguments"
        errors: list[FieldError] = []
        for e in err.errors(include_url=False, include_input=False, include_context=False):
            loc = list(e["loc"])
            field = str(loc[0]) if loc else ""
            if e["type"] == "missing" and len(loc) == 1:
                message = "This field is required."
            elif e["type"] == "extra_forbidden" and len(loc) == 1:
                message = f"Unexpected argument {field!r}: {self.name} takes {names}."
            elif form and e["type"] in _FORM_WORDING:
                message = _FORM_WORDING[e["type"]]
            else:
                message = e["msg"]
            errors.append(_error(field, loc[1:], message, e["type"]))
        return errors

    def dump_result(self, value: Any) -> Any:
        """``value`` as JSON-compatible data, or ``UnserializableResult`` naming its type."""
        try:
            if self._return_adapter is not None:
                return self._return_adapter.dump_python(value, mode="json", warnings=False)
            return to_jsonable_python(value)
        except PydanticSerializationError as err:
            kind = type(value).__qualname__
            message = (
                f"action {self.name!r} returned a value of type {kind!r}, which cannot be sent to a client: "
                "return JSON values (str, int, float, bool, None, lists, dicts), dataclasses, "
                f"pydantic models or bytes ({err})"
            )
            raise UnserializableResult(message) from None


#: What a person typing into a form is told instead of pydantic's words for a programmer
#: ("Input should be a valid integer, unable to parse string as an integer").
_FORM_WORDING = {
    "int_parsing": "Enter a whole number.",
    "int_from_float": "Enter a whole number.",
    "float_parsing": "Enter a number.",
    "decimal_parsing": "Enter a number.",
}


def _error(field: str, loc: list[Any], message: str, kind: str) -> FieldError:
    return {"field": field, "loc": loc, "message": message, "type": kind}


def field_error(field: str, message: str, kind: str) -> FieldError:
    """An error about one argument as a whole (``loc`` empty), as validation reports them."""
    return _error(field, [], message, kind)
