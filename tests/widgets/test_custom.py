"""Actions as props of your own anywidget: ``ActionWidget`` + ``ActionTrait``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import traitlets

from notebook_actions import Form, action
from notebook_actions.widgets import ActionDict, ActionTrait, ActionWidget, client_js
from notebook_actions.widgets._esm import BUTTONS_MARKER, CLIENT_MARKER, bundle

from .conftest import Frontend

ESM = """
export default {
  render({ model, el }) {
    el.onclick = async () => { el.textContent = await callAction(model, "save", { text: "hi" }); };
  },
};
"""


class Saver(ActionWidget):
    _esm = ESM
    save = ActionTrait()
    more = ActionDict()
    value = traitlets.Unicode("").tag(sync=True)


def save(text: str) -> str:
    return text.upper()


def test_the_client_is_prepended_once_and_exposes_three_names() -> None:
    assert Saver._esm.startswith(CLIENT_MARKER)
    assert Saver._esm.endswith(ESM)
    assert Saver._esm.count(CLIENT_MARKER) == 1
    assert "const { callAction, ActionError, connectActions } = (() => {" in Saver._esm

    class Again(Saver):  # inherits the module: not prepended twice
        pass

    assert Again._esm is Saver._esm


def test_every_action_widget_gets_the_button_classes_before_its_own_css() -> None:
    assert Saver._css.startswith(BUTTONS_MARKER)  # no _css of its own

    class Styled(Saver):
        _css = ".mine { color: red; }"

    class Again(Styled):  # inherits Styled's sheet: kept, not prepended twice
        pass

    for widget in (Styled, Again, Form):
        assert widget._css.startswith(BUTTONS_MARKER) and widget._css.count(BUTTONS_MARKER) == 1
    assert Again._css.endswith(".mine { color: red; }")


def test_an_esm_file_path_works_too(tmp_path: Path) -> None:
    path = tmp_path / "widget.js"
    path.write_text(ESM)

    class FromFile(ActionWidget):
        _esm = path
        save = ActionTrait()

    esm = str(FromFile._esm)
    assert esm.startswith(CLIENT_MARKER) and esm.endswith(ESM)


def test_a_url_esm_is_refused() -> None:
    with pytest.raises(ValueError, match="not a URL"):

        class Remote(ActionWidget):
            _esm = "https://example.com/widget.js"


def test_the_trait_syncs_a_ref_and_calls_reach_the_action(frontend: Frontend) -> None:
    act = action(save)
    widget = Saver(save=act)
    state = frontend.state(widget)
    assert state["save"] == {
        "id": act.id,
        "name": "save",
        "streaming": False,
        "doc": "",
        "params": act.params_schema,
        "files": {},
    }
    assert state["more"] == {} and state["max_upload_bytes"] == 1 << 30
    frontend.send(widget, {"kind": "invoke", "id": "1", "action": act.id, "args": {"text": "hi"}})
    assert frontend.final(widget, "1") == {"kind": "result", "id": "1", "value": "HI"}


def test_changing_the_trait_changes_what_may_be_called(frontend: Frontend) -> None:
    first = action(save)

    def shout(text: str) -> str:
        return text + "!"

    second = action(shout)
    widget = Saver(save=first)
    widget.save = second
    assert frontend.state(widget)["save"]["id"] == second.id  # synced to the front end
    frontend.send(widget, {"kind": "invoke", "id": "old", "action": first.id, "args": {"text": "x"}})
    frontend.send(widget, {"kind": "invoke", "id": "new", "action": second.id, "args": {"text": "x"}})
    assert frontend.final(widget, "old")["kind"] == "not_found"  # type: ignore[index]
    assert frontend.final(widget, "new")["value"] == "x!"  # type: ignore[index]
    widget.more = {"again": first}
    frontend.send(widget, {"kind": "invoke", "id": "dict", "action": first.id, "args": {"text": "y"}})
    assert frontend.final(widget, "dict")["value"] == "Y"  # type: ignore[index]


def test_bind_keeps_arguments_in_the_kernel(frontend: Frontend) -> None:
    def label(prefix: str, text: str) -> str:
        return f"{prefix}: {text}"

    widget = Saver()
    widget.save = widget.bind(action(label), prefix="TOP SECRET PREFIX")
    assert "TOP SECRET PREFIX" not in repr(frontend.state(widget))
    frontend.send(widget, {"kind": "invoke", "id": "b", "action": widget.save.id, "args": {"text": "x"}})
    assert frontend.final(widget, "b")["value"] == "TOP SECRET PREFIX: x"  # type: ignore[index]


def test_a_trait_refuses_what_is_not_an_action() -> None:
    with pytest.raises(traitlets.TraitError, match=r"Saver.save: 'save' is a plain function"):
        Saver(save=save)
    with pytest.raises(traitlets.TraitError, match=r"Saver.more\['x'\]: expected an action, got int"):
        Saver(more={"x": 1})


def test_the_joined_modules_parse_as_javascript(tmp_path: Path) -> None:
    # node is on the machine (tsc needs it); --check parses without running.
    for name, text in {
        "form": bundle("ui.js", "form.js"),
        "button": bundle("ui.js", "button.js"),
        "custom": Saver._esm,
        "client": client_js(),
    }.items():
        path = tmp_path / f"{name}.mjs"
        path.write_text(text)
        result = subprocess.run(["node", "--check", str(path)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
