"""Every Python example of docs/widgets.md runs, in order, in a real IPython shell."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

from notebook_actions.widgets import ActionWidget

from .conftest import Frontend

DOC = Path(__file__).resolve().parents[2] / "docs" / "widgets.md"


def examples(path: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", path.read_text(), flags=re.MULTILINE | re.DOTALL)


@pytest.mark.parametrize("doc", [DOC], ids=["docs/widgets.md"])
def test_the_examples_run(doc: Path, shell: InteractiveShell, frontend: Frontend) -> None:
    made: list[ActionWidget] = []
    for source in examples(doc):
        result = shell.run_cell(source, store_history=True)
        result.raise_error()
        if isinstance(result.result, ActionWidget):
            made.append(result.result)
    assert len(made) == 9

    # And they work: the streaming form and the custom widget, as the browser calls them.
    shout = next(w for w in made if type(w).__name__ == "Shout")
    frontend.send(shout, {"kind": "invoke", "id": "s", "action": shout.shout.id, "args": {"text": "hi"}})
    assert frontend.final(shout, "s") == {"kind": "result", "id": "s", "value": "HI!"}
    cart = next(w for w in made if w.action.name == "add_to_cart")
    for rid in ("a", "b"):
        frontend.send(
            cart, {"kind": "invoke", "id": rid, "action": cart.action.id, "args": {"item": rid}, "encoding": "form"}
        )
    assert frontend.final(cart, "b") == {"kind": "result", "id": "b", "value": ["a", "b"]}

    # The list pattern: a row's Done button, then its Delete button, as the page sends them.
    view = next(w for w in made if type(w).__name__ == "View")
    toggle, delete = view.actions["toggle"], view.actions["delete"]
    frontend.send(
        view, {"kind": "invoke", "id": "t", "action": toggle.id, "args": {"todo_id": "2"}, "encoding": "form"}
    )
    assert frontend.final(view, "t") == {"kind": "result", "id": "t", "value": "toggled #2"}
    assert 'aria-pressed="true">Done</button> Write report' in view.value
    frontend.send(
        view, {"kind": "invoke", "id": "d", "action": delete.id, "args": {"todo_id": "1"}, "encoding": "form"}
    )
    assert frontend.final(view, "d") == {"kind": "result", "id": "d", "value": None}
    assert "Buy milk" not in view.value and "Write report" in view.value
