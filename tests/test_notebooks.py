"""Every example notebook runs headlessly (nbclient) and does what it shows.

Each notebook is copied to a temporary folder (the to-do app writes its SQLite file beside
itself), executed with widget state stored as JupyterLab would save it, then checked: its
outputs, extra cells appended by the test that invoke its actions through
``notebook_actions.testing``, and the saved file.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"
SECRET = "sk-test-7f3a9c-SHOULD-NEVER-LEAVE"

# Cells the test appends: they run in the notebook's kernel after its own cells.
CHECKS: dict[str, list[str]] = {
    "quickstart.ipynb": [
        "assert testing.invoke('add_todo', {'title': 'via name'}).value['id'] == len(TODOS)",
        "assert add_todo.exported and not greeter('Hi').exported",
        "assert testing.invoke(greeter('Hej'), {'name': 'Ann'}).value == 'Hej, Ann!'",
    ],
    "todo_app.ipynb": [
        "from notebook_actions import Caller, testing\n"
        "assert testing.invoke(add, {'title': 'buy <milk>'}).value == \"Added 'buy <milk>'\"\n"
        "assert 'buy &lt;milk&gt;' in todos.value and 'buy <milk>' not in todos.value, todos.value",
        # The browser's click on the row's Done button: its form's fields, to the view's toggle.
        "todo_id = db.execute('select max(id) from todo_items').fetchone()[0]\n"
        "row = f\"<input type='hidden' name='todo_id' value='{todo_id}'>\"\n"
        "assert row in todos.value and todos.actions['toggle'] is toggle\n"
        "assert testing.invoke(toggle, {'todo_id': str(todo_id)}).value == f'Toggled #{todo_id}'\n"
        "assert \"class='todo done'\" in todos.value and \"aria-pressed='true'\" in todos.value",
        # Another caller has a list of their own: they cannot see or touch this one.
        "ann = Caller(name='visitor-ann', display_name='Ann', groups=None, anonymous=True, via='app')\n"
        "error = testing.invoke(delete, {'todo_id': todo_id}, caller=ann).error\n"
        "assert error['type'] == 'LookupError', error  # one caller's actions cannot touch another's list\n"
        "assert testing.invoke(list_todos, caller=ann).value == []\n"
        "assert testing.invoke(add, {'title': 'ann'}, caller=ann).value == \"Added 'ann'\"\n"
        "assert [t['title'] for t in testing.invoke(list_todos, caller=ann).value] == ['ann']\n"
        "assert 'buy &lt;milk&gt;' not in todos.value  # the view rendered for Ann, Ann's list\n"
        "assert [t['title'] for t in testing.invoke(list_todos).value] == ['buy <milk>']\n"
        "assert testing.invoke(delete, {'todo_id': todo_id}).value == f'Deleted #{todo_id}'\n"
        "assert testing.invoke(list_todos).value == []",
        "assert testing.invoke(add, {'title': ''}).kind == 'invalid'",
    ],
    "custom_widget.ipynb": [
        "from notebook_actions import testing\n"
        "box = VoteButtons(vote=ballot_box('tea'))\n"
        "assert testing.invoke(box.vote, {'choice': 'up'}).value == {'topic': 'tea', 'up': 1, 'down': 0}\n"
        "assert testing.invoke(box.vote, {'choice': 'sideways'}).kind == 'invalid'\n"
        "state = {k: v for k, v in box.get_state().items() if k != '_esm'}\n"
        "assert state['vote']['name'] == 'vote' and 'tea' not in str(state)  # the closure stays in the kernel",
    ],
    "secrets.ipynb": [
        "assert API_KEY == os.environ['WEATHER_API_KEY'] and len(API_KEY) > 20",
        "assert testing.invoke(forecast, {'city': 'Oslo'}).value['city'] == 'Oslo'",
        "assert testing.invoke(check_key, {'key': API_KEY}).value is True",
        "assert API_KEY not in json.dumps(check_key.info())",
    ],
    "uploads_and_streaming.ipynb": [
        "big = UploadedFile.from_bytes(b'n\\n' + b''.join(b'%d\\n' % i for i in range(100000)), 'n.csv')\n"
        "summary = testing.invoke(summarise_csv, files={'data': big}).value\n"
        "assert summary['rows'] == 100000 and summary['means'] == {'n': 49999.5}, summary",
        "outcome = await testing.ainvoke(crunch, {'steps': 2, 'seconds_per_step': 0})\n"
        "assert [getattr(c, 'value', c) for c in outcome.chunks] == [1, 2, 'done'] and outcome.kind == 'end'",
    ],
}


def text_outputs(cell: Any) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if "text" in output:
            parts.append(output["text"])
        for mime, data in output.get("data", {}).items():
            if mime.startswith("text/"):
                parts.append(data if isinstance(data, str) else "".join(data))
    return "\n".join(parts)


def output_of(nb: Any, source: str) -> str:
    """The text output of the one cell whose source contains ``source``."""
    cells = [cell for cell in nb.cells if cell.cell_type == "code" and source in cell.source]
    assert len(cells) == 1, f"{len(cells)} cells contain {source!r}"
    return text_outputs(cells[0])


def execute(name: str, tmp_path: Path) -> tuple[Any, Path]:
    shutil.copy(NOTEBOOKS / name, tmp_path / name)
    nb = nbformat.read(tmp_path / name, as_version=4)
    for code in CHECKS.get(name, []):
        nb.cells.append(nbformat.v4.new_code_cell(code))
    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", store_widget_state=True, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    saved = tmp_path / f"saved-{name}"
    nbformat.write(nb, saved)
    return nb, saved


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], tuple[Any, Path]]]:
    """Runs each notebook once per module, however many tests look at it."""
    done: dict[str, tuple[Any, Path]] = {}
    with pytest.MonkeyPatch.context() as patch:
        # The kernel inherits it: secrets.ipynb reads its key from the environment.
        patch.setenv("WEATHER_API_KEY", SECRET)

        def run(name: str) -> tuple[Any, Path]:
            if name not in done:
                done[name] = execute(name, tmp_path_factory.mktemp(name.removesuffix(".ipynb")))
            return done[name]

        yield run


def test_every_notebook_is_checked() -> None:
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(CHECKS)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_notebook_runs_and_keeps_secrets(name: str, executed: Callable[[str], tuple[Any, Path]]) -> None:
    nb, saved = executed(name)
    text = saved.read_text()
    assert SECRET not in text
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    assert state, "the saved notebook holds the widgets' state"
    assert SECRET not in json.dumps(state)


def test_quickstart_outputs(executed: Callable[[str], tuple[Any, Path]]) -> None:
    nb, _ = executed("quickstart.ipynb")
    outputs = [text_outputs(cell) for cell in nb.cells]
    registered = next(o for o in outputs if "Registered" in o)
    assert "add_todo(title: str, priority: Literal['low', 'normal', 'high'] = 'normal'" in registered
    curl = next(o for o in outputs if "curl -X POST" in o)
    assert "/notebook-actions/api/kernels/" in curl and "/actions/add_todo" in curl
    assert "${JUPYTER_TOKEN}" in curl and '"title": "Buy milk"' in curl
    report = output_of(nb, '{"title": "Write report"')
    assert "'title': 'Write report'" in report and "datetime.date(2026, 12, 1)" not in report
    errors = output_of(nb, '{"title": "", "priority": "urgent"}')
    assert "title" in errors and "priority" in errors


def test_secrets_notebook_reports_no_leak(executed: Callable[[str], tuple[Any, Path]]) -> None:
    nb, _ = executed("secrets.ipynb")
    report = next(text_outputs(c) for c in nb.cells if "contains the key" in text_outputs(c))
    assert report.count("contains the key: False") == 4, report
    assert "LookupError digest" in report
