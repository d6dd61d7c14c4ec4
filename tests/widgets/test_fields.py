"""The form's controls come from the action's signature."""

from __future__ import annotations

import datetime
import enum
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from notebook_actions import ActionButton, Form, Secret, UploadedFile, action
from notebook_actions.widgets import _fields
from notebook_actions.widgets._fields import ACRONYMS, form_fields, humanize, param_docs, summary, title

from .conftest import Frontend


class Color(enum.Enum):
    red = "r"
    green = "g"


class Size(enum.IntEnum):
    xs = 1
    s = 2
    m = 3
    l = 4  # noqa: E741
    xl = 5


def everything(
    title: Annotated[str, Field(title="Title of the todo", description="Shown in the list")],
    count: Annotated[int, Field(ge=1, le=10)] = 3,
    ratio: Annotated[float, Field(gt=0, multiple_of=0.5)] = 0.5,
    done: bool = False,
    color: Color = Color.red,
    size: Size | None = None,
    level: Literal[1, 2, 3] = 2,
    tags: list[Literal["home", "work"]] = [],  # noqa: B006
    due: datetime.date | None = None,
    at: datetime.datetime = datetime.datetime(2024, 5, 1, 9, 30, tzinfo=datetime.timezone.utc),
    alarm: datetime.time | None = None,
    token: Annotated[str, Secret] = "hunter2",
    attachment: UploadedFile | None = None,
    photos: list[UploadedFile] = [],  # noqa: B006
    notes: list[str] = [],  # noqa: B006
    meta: dict[str, int] = {},  # noqa: B006
    email: Annotated[str, Field(json_schema_extra={"format": "email"}, max_length=80)] = "",
    anything: Any = None,
) -> None:
    """Make a todo.

    More words here.

    Args:
        title: ignored, the Field description wins.
        count: How many
            copies to make.
        notes (list[str]): One per line.
    """


def by_name() -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in form_fields(action(everything))}


def test_each_type_gets_its_control() -> None:
    fields = by_name()
    controls = {name: f["control"] for name, f in fields.items()}
    assert controls == {
        "title": "text",
        "count": "number",
        "ratio": "number",
        "done": "checkbox",
        "color": "radio",
        "size": "select",
        "level": "radio",
        "tags": "multiselect",
        "due": "date",
        "at": "datetime-local",
        "alarm": "time",
        "token": "password",
        "attachment": "file",
        "photos": "file",
        "notes": "lines",
        "meta": "json",
        "email": "email",
        "anything": "text",
    }


def test_labels_help_required_and_constraints() -> None:
    fields = by_name()
    assert fields["title"] == {
        "name": "title",
        "label": "Title of the todo",
        "required": True,
        "help": "Shown in the list",
        "control": "text",
    }
    assert fields["count"] == {
        "name": "count",
        "label": "Count",
        "required": False,
        "help": "How many copies to make.",
        "control": "number",
        "step": 1,
        "min": 1,
        "max": 10,
        "default": 3,
    }
    assert fields["ratio"]["step"] == 0.5 and fields["ratio"]["min"] == 0
    assert fields["notes"]["help"] == "One per line."
    assert fields["email"]["maxlength"] == 80


def test_choices_and_defaults() -> None:
    fields = by_name()
    assert fields["color"]["options"] == [{"value": "r", "label": "red"}, {"value": "g", "label": "green"}]
    assert fields["color"]["default"] == "r"
    # Optional: an empty choice first; more than four options: a select.
    assert fields["size"]["options"][0] == {"value": None, "label": "—"}
    assert len(fields["size"]["options"]) == 6 and fields["size"]["default"] is None
    assert [o["value"] for o in fields["level"]["options"]] == [1, 2, 3]
    assert fields["tags"]["options"] == [{"value": "home", "label": "home"}, {"value": "work", "label": "work"}]
    assert fields["at"]["default"] == "2024-05-01T09:30:00"
    assert "default" not in fields["due"] and fields["due"]["required"] is False
    assert fields["photos"]["multiple"] is True and fields["attachment"]["multiple"] is False


def test_a_secret_default_never_reaches_the_form() -> None:
    token = by_name()["token"]
    assert token == {"name": "token", "label": "Token", "required": False, "control": "password"}
    assert "hunter2" not in repr(form_fields(action(everything)))


def test_docstring_summary_and_styles() -> None:
    assert summary(everything.__doc__) == "Make a todo.\n\nMore words here."
    numpy = """Sum.

    Parameters
    ----------
    a : int
        The first
        one.
    b : int
        Second.

    Returns
    -------
    int
    """
    assert param_docs(numpy) == {"a": "The first one.", "b": "Second."}
    sphinx = """Sum.

    :param a: first
    :param int b: second
        continued
    :returns: the sum
    """
    assert param_docs(sphinx) == {"a": "first", "b": "second continued"}
    assert summary(sphinx) == "Sum."


def summarise_csv(data: UploadedFile) -> dict[str, Any]:
    """Rows, columns and the mean of each numeric column of a CSV file."""
    return {}


def fetch_user_ids(url: str) -> list[int]:
    """Fetch from the API

    Every user's id, from the service at ``url``.

    Args:
        url: Where the service is.
    """
    return []


def test_labels_keep_acronyms_and_take_the_docstrings_title_line(frontend: Frontend) -> None:
    assert humanize("summarise_csv") == "Summarise CSV"
    assert humanize("get_http_status_by_id") == "Get HTTP status by ID"
    assert humanize("user_ids") == "User IDs"
    assert humanize("add_todo") == "Add todo"
    # A one-sentence docstring is a description, not a title: the name gives the label.
    form = Form(action(summarise_csv))
    assert form.submit_label == "Summarise CSV"
    assert form.description == "Rows, columns and the mean of each numeric column of a CSV file."
    # A short first line without a full stop, then a blank line: the title, and the label.
    form = Form(action(fetch_user_ids))
    assert form.submit_label == "Fetch from the API"
    assert form.description == "Every user's id, from the service at ``url``."
    assert ActionButton(action(fetch_user_ids), args={"url": "u"}).label == "Fetch from the API"
    assert form.fields[0]["help"] == "Where the service is."
    assert Form(action(fetch_user_ids), submit_label="Go").submit_label == "Go"
    # A first line that runs on into the paragraph is no title.
    assert title("Fetch every\nuser there is.") == ""
    assert summary("Fetch every\nuser there is.") == "Fetch every\nuser there is."


def test_form_js_capitalises_the_same_acronyms() -> None:
    source = (Path(_fields.__file__).parent / "form.js").read_text()
    listed = re.search(r'const ACRONYMS = new Set\(\s*"([^"]*)"\.split', source)
    assert listed is not None, "form.js's ACRONYMS list moved: keep this test reading it"
    assert set(listed.group(1).split(" ")) == ACRONYMS
