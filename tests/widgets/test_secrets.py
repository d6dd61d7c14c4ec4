"""Nothing secret leaves the kernel through a widget: not its synced state, not its
repr, not a notebook saved with widget state."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .._saved import saved_with_widget_state
from .conftest import Frontend

SECRETS = {
    "global": "sk-GLOBAL-SECRET-0001",
    "closure": "CLOSURE-SECRET-0002",
    "default": "DEFAULT-SECRET-0003",
    "result": "RESULT-SECRET-0004",
    "bound": "BOUND-SECRET-0005",
    "state": "STATE-SECRET-0006",
    "password": "PASSWORD-VALUE-0007",
}

# The secrets reach the kernel through its environment, as a real one would (a cell's
# source is saved in the notebook, so they cannot be written in it).
SETUP = """
import json, os
from typing import Annotated
from notebook_actions import ActionButton, Form, Secret, action
from notebook_actions.widgets import ActionTrait, ActionWidget

S = json.loads(os.environ["NA_TEST_SECRETS"])
API_KEY = S["global"]

def make():
    closure_secret = S["closure"]

    def fetch(query: str, token: Annotated[str, Secret] = S["default"]) -> str:
        assert API_KEY and closure_secret
        return query + " " + S["result"] + " " + str(len(token))

    return action(fetch)

def remember(state: str, note: str = "") -> str:
    return state + note

class Custom(ActionWidget):
    _esm = "export default { render({ model, el }) { el.textContent = 'custom'; } }"
    run = ActionTrait()

fetch = make()
form = Form(fetch)
button = ActionButton(fetch, args={"query": S["bound"]})
stateful = Form(action(remember), previous_state=True, initial_state=S["state"])
custom = Custom()
custom.run = custom.bind(fetch, token=S["password"])
"""

# The browser submitting the form, with a password typed in: the reply (holding the
# result) is a custom message, which a saved notebook never holds.
SUBMIT = """
replies = []
def submit(widget, args):
    original = widget.send
    widget.send = lambda content, buffers=None: (replies.append(content), original(content, buffers))
    msg = {"kind": "invoke", "id": "r", "action": widget.action.id, "args": args, "encoding": "form"}
    widget._handle_msg({"content": {"data": {"method": "custom", "content": {"notebook_actions": msg}}},
                        "buffers": []})

submit(form, {"query": "q", "token": S["password"]})
submit(button, {})
submit(stateful, {"note": "x"})
assert [r["notebook_actions"]["kind"] for r in replies] == ["result"] * 3, replies
assert S["result"] in replies[0]["notebook_actions"]["value"]
"""


@pytest.fixture(autouse=True)
def _secrets_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NA_TEST_SECRETS", json.dumps(SECRETS))


def leaked(text: str) -> list[str]:
    return [name for name, value in SECRETS.items() if value in text]


def test_synced_state_repr_and_text_plain_hold_no_secret(frontend: Frontend) -> None:
    namespace: dict[str, Any] = {}
    exec(SETUP, namespace)  # the same widgets as the notebook below, in this process
    widgets = [namespace[name] for name in ("form", "button", "stateful", "custom")]
    exec(SUBMIT, namespace)
    results = [r for w in widgets for r in frontend.replies(w) if r["kind"] == "result"]
    assert SECRETS["result"] in repr(results)  # the result did come back, as a message
    for widget in widgets:
        assert leaked(json.dumps(frontend.state(widget))) == []
        assert leaked(json.dumps(widget.get_state(), default=repr)) == []
        assert leaked(repr(widget)) == []
        bundle = widget._repr_mimebundle_()
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        assert leaked(json.dumps(data)) == []


def test_a_notebook_saved_with_widget_state_holds_no_secret(tmp_path: Path) -> None:
    nb, text = saved_with_widget_state(
        tmp_path,
        SETUP,
        "display(form, button, stateful, custom)\nform",
        SUBMIT,
        "repr(form), repr(button), repr(stateful), repr(custom)",
    )

    widget_state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    models = [m["state"] for m in widget_state.values() if m["model_name"] == "AnyModel"]
    assert len(models) == 4  # the state really was saved...
    assert {m["action"]["name"] for m in models if "action" in m} == {"fetch", "remember"}
    displayed = nb.cells[1].outputs
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in displayed)
    assert leaked(text) == []  # ...and holds none of the secrets
