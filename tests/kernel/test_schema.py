"""Arguments from clients: coercion, validation, JSON Schema, secrets."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal, Optional

import pytest
from pydantic import BaseModel, Field, SecretStr
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12

from notebook_actions import Secret, UploadedFile, action, testing


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Address(TypedDict):
    city: str
    zip: int


@dataclass
class Point:
    x: float
    y: float


class User(BaseModel):
    name: str
    age: int = Field(ge=0)


def echo(**given: Any) -> Any:
    return given


@pytest.mark.parametrize(
    ("annotation", "sent", "received"),
    [
        (str, "abc", "abc"),
        (int, "3", 3),
        (float, "2.5", 2.5),
        (bool, "true", True),
        (Decimal, "1.10", Decimal("1.10")),
        (dt.date, "2026-11-24", dt.date(2026, 11, 24)),
        (dt.datetime, "2026-11-24T10:30:00", dt.datetime(2026, 11, 24, 10, 30)),
        (dt.time, "10:30", dt.time(10, 30)),
        (Color, "blue", Color.BLUE),
        (Literal["a", "b"], "b", "b"),
        (list[int], ["1", 2], [1, 2]),
        (set[str], ["x", "x", "y"], {"x", "y"}),
        (dict, {"k": [1]}, {"k": [1]}),
        (Address, {"city": "Oslo", "zip": "150"}, {"city": "Oslo", "zip": 150}),
        (Point, {"x": 1, "y": "2"}, Point(1.0, 2.0)),
        (User, {"name": "ann", "age": "40"}, User(name="ann", age=40)),
        (Optional[int], None, None),  # noqa: UP045
        (int | None, "7", 7),
        (Annotated[int, Field(ge=1)], 5, 5),
        (Any, {"free": ["json"]}, {"free": ["json"]}),
    ],
)
def test_every_supported_type_is_coerced(annotation: Any, sent: Any, received: Any) -> None:
    seen: dict[str, Any] = {}

    def f(value):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN202  (annotated below)
        seen["value"] = value

    f.__annotations__ = {"value": annotation}
    outcome = testing.invoke(action(f), {"value": sent})
    assert outcome.kind == "result", outcome.replies
    assert seen["value"] == received
    assert type(seen["value"]) is type(received)


def test_unsupported_parameter_types_are_a_clear_error() -> None:
    import typing

    class Plain(typing.TypedDict):
        a: int

    def f(value):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN202  (annotated below)
        return None

    f.__annotations__ = {"value": Plain}
    act = action(f)
    with pytest.raises(TypeError, match="pydantic cannot validate its parameters"):
        _ = act.signature
    outcome = testing.invoke(act, {"value": {"a": 1}})
    final = outcome.replies[-1]
    assert final["kind"] == "error" and "typing_extensions" in final["message"]


def test_unannotated_parameters_accept_any_json() -> None:
    act = action(lambda x: x)
    assert testing.invoke(act, {"x": [1, {"a": None}]}).value == [1, {"a": None}]
    assert act.params_schema["properties"]["x"] == {"title": "X"}


def test_missing_extra_and_wrong_types_are_all_reported_per_field() -> None:
    @action
    def order(item: str, qty: Annotated[int, Field(ge=1)], when: dt.date) -> str:
        raise AssertionError("invalid input must never reach the function")

    errors = testing.invoke(order, {"qty": 0, "when": "soon", "colour": "red"}).errors
    assert set(errors) == {"item", "qty", "when", "colour"}
    assert errors["item"] == "This field is required."
    assert "greater than or equal to 1" in errors["qty"]
    assert "date" in errors["when"]
    assert errors["colour"] == "Unexpected argument 'colour': order takes item, qty, when."


def test_arguments_must_be_an_object() -> None:
    act = action(lambda x: x)
    client = testing.Client()
    client.send({"kind": "invoke", "id": "r", "action": act.id, "args": [1, 2]})
    outcome = client.outcome("r")
    assert outcome.kind == "invalid"
    assert "object of named values" in outcome.errors[""]


def test_nested_errors_say_where_inside_the_value() -> None:
    @action
    def f(user: User) -> None:
        return None

    final = testing.invoke(f, {"user": {"name": "x", "age": -1}}).final
    assert final is not None and final["kind"] == "invalid"
    assert final["errors"][0]["field"] == "user"
    assert final["errors"][0]["loc"] == ["age"]


def test_form_encoding_follows_html_form_semantics() -> None:
    @action
    def signup(
        name: str, age: int, newsletter: bool, tags: list[str], nickname: str | None = None, team: int = 5
    ) -> dict[str, Any]:
        return {"name": name, "age": age, "newsletter": newsletter, "tags": tags, "nickname": nickname, "team": team}

    # a missing checkbox is False, a single value for a list becomes a list, "" is None/default
    sent: dict[str, Any] = {"name": "ann", "age": "41", "tags": "x", "nickname": "", "team": ""}
    assert testing.invoke(signup, sent, form=True).value == {
        "name": "ann",
        "age": 41,
        "newsletter": False,
        "tags": ["x"],
        "nickname": None,
        "team": 5,
    }
    sent = {"name": "bo", "age": "3", "newsletter": "on", "tags": ["a", "b"]}
    value = testing.invoke(signup, sent, form=True).value
    assert value["newsletter"] is True and value["tags"] == ["a", "b"]
    assert testing.invoke(signup, {"name": "c", "age": "", "tags": []}, form=True).errors == {
        "age": "This field is required."
    }


def test_form_encoding_an_empty_required_field_is_missing_and_a_repeated_one_an_error() -> None:
    @action
    def greet(name: str, greeting: str = "Hello", nickname: str | None = None) -> str:
        return f"{greeting}, {name} ({nickname})"

    # The asterisk's promise: an empty required field is missing; JSON's "" is a string.
    assert testing.invoke(greet, {"name": ""}, form=True).errors == {"name": "This field is required."}
    assert testing.invoke(greet, {"name": ""}).value == "Hello,  (None)"
    # Not required: an empty text field is "" (what was typed), an Optional one None.
    assert testing.invoke(greet, {"name": "a", "greeting": "", "nickname": ""}, form=True).value == ", a (None)"
    # One value sent twice: neither is picked, the field says so (and the others still do).
    outcome = testing.invoke(greet, {"name": ["a", "b"], "greeting": ["x"], "oops": "1"}, form=True)
    assert set(outcome.errors or {}) == {"name", "oops"}
    assert (outcome.errors or {})["name"] == "'name' was sent 2 times, but takes one value: send it once."
    assert testing.invoke(greet, {"name": ["a", "b"]}, form=True).errors == {
        "name": "'name' was sent 2 times, but takes one value: send it once."
    }


def test_form_input_that_is_not_a_number_is_told_so_in_a_persons_words() -> None:
    @action
    def order(copies: int, weight: float, price: Decimal = Decimal(1)) -> str:
        return f"{copies} {weight} {price}"

    sent = {"copies": "1.5", "weight": "heavy", "price": "cheap"}
    assert testing.invoke(order, sent, form=True).errors == {
        "copies": "Enter a whole number.",
        "weight": "Enter a number.",
        "price": "Enter a number.",
    }
    # A program sending JSON gets pydantic's exact words.
    errors = testing.invoke(order, {"copies": 1.5, "weight": "heavy"}).errors or {}
    assert errors["copies"].startswith("Input should be a valid integer")
    assert errors["weight"].startswith("Input should be a valid number")


def test_json_schema_describes_the_parameters() -> None:
    @action
    def f(
        title: Annotated[str, Field(title="Title", description="What to do")],
        priority: Literal[1, 2, 3] = 1,
        due: dt.date | None = None,
    ) -> Point:
        return Point(0, 0)

    schema = f.params_schema
    assert schema["required"] == ["title"]
    assert schema["properties"]["title"]["description"] == "What to do"
    assert schema["properties"]["priority"] == {"default": 1, "enum": [1, 2, 3], "title": "Priority", "type": "integer"}
    assert schema["additionalProperties"] is False
    assert f.returns_schema["properties"]["x"]["type"] == "number"


def test_secret_defaults_never_leave_the_kernel() -> None:
    @action
    def call(
        key: Annotated[str, Secret] = "sk-DEFAULT-SECRET",
        token: SecretStr = SecretStr("tok-SECRET"),  # noqa: B008 (a constant, as pydantic's docs do it)
    ) -> int:
        return len(key)

    assert "SECRET" not in repr(call.info())
    assert "SECRET" not in repr(call)
    prop = call.params_schema["properties"]["key"]
    assert prop["format"] == "password" and prop["writeOnly"] is True and "default" not in prop
    assert testing.invoke(call).value == len("sk-DEFAULT-SECRET")
    # an invalid call echoes no input back
    outcome = testing.invoke(call, {"key": ["sk-SENT-SECRET"]})
    assert outcome.kind == "invalid" and "SECRET" not in repr(outcome.replies)


def test_uploaded_files_arrive_as_file_objects() -> None:
    @action
    def summarise(data: UploadedFile, extra: list[UploadedFile] | None = None) -> dict[str, Any]:
        return {"name": data.name, "size": data.size, "text": data.text(), "extra": [f.size for f in extra or []]}

    with UploadedFile.from_bytes(b"a,b\n1,2\n", "t.csv", "text/csv") as data:
        outcome = testing.invoke(summarise, files={"data": data, "extra": [b"x", b"yz"]})
    assert outcome.value == {"name": "t.csv", "size": 8, "text": "a,b\n1,2\n", "extra": [1, 2]}
    assert summarise.params_schema["properties"]["data"]["format"] == "binary"
    assert "data" in testing.invoke(summarise, {"data": "not a file"}).errors


def test_positional_only_parameters() -> None:
    def f(a: int, /, b: int) -> int:
        return a * 10 + b

    assert testing.invoke(action(f), {"a": "1", "b": 2}).value == 12


class Size(enum.Enum):
    SMALL = 1
    LARGE = 2


def test_form_encoding_maps_non_string_choices() -> None:
    @action
    def pick(n: Literal[1, 2, 3], size: Size, many: list[Literal[10, 20]]) -> list[Any]:
        return [n, size.name, many]

    assert testing.invoke(pick, {"n": "2", "size": "2", "many": ["10", "20"]}, form=True).value == [
        2,
        "LARGE",
        [10, 20],
    ]
    assert "n" in testing.invoke(pick, {"n": "4", "size": "1", "many": []}, form=True).errors


def test_the_info_names_the_file_parameters() -> None:
    # What forms, OpenAPI and MCP read: a bytes parameter is JSON (a string), not a file.
    def take(f: UploadedFile, many: list[UploadedFile], maybe: UploadedFile | None = None, raw: bytes = b"") -> int:
        return 0

    assert action(take).info()["files"] == {"f": False, "many": True, "maybe": False}
