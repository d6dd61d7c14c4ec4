"""%%use_server in a real IPython shell."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from IPython.core.interactiveshell import InteractiveShell

from notebook_actions import Action
from notebook_actions._magic import Registered
from notebook_actions._registry import registry

from .conftest import run

CELL = '''%%use_server
import os.path
from os.path import join

def add(a: int, b: int = 2) -> int:
    """Add two numbers."""
    return a + b

async def fetch(x: str) -> str:
    return x

def count(n: int):
    yield from range(n)

async def tick(n: int):
    for i in range(n):
        yield i

def _helper():
    return 1

class Thing:
    pass

double = lambda x: 2 * x
'''


def test_public_functions_become_exported_actions(shell: InteractiveShell) -> None:
    run(shell, CELL)
    names = [a.name for a in registry.exported_actions()]
    assert names == ["add", "count", "fetch", "tick"]
    add = shell.user_ns["add"]
    assert isinstance(add, Action) and add.exported
    assert add(1, 2) == 3  # still a plain Python function to call
    assert add.__doc__ == "Add two numbers."
    assert isinstance(shell.user_ns["_helper"], type(lambda: 0))
    assert shell.user_ns["join"] is __import__("os.path").path.join  # imported: untouched


def test_output_lists_what_was_registered_and_how_to_reach_it(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    run(shell, CELL)
    out = capsys.readouterr().out
    assert "Registered 4 server action(s)" in out
    assert "add(a: int, b: int = 2)" in out
    assert "Form(add)" in out
    assert "/notebook-actions/api/kernels/" in out and "/actions/add" in out


def test_the_html_summary_is_a_left_aligned_listing_whatever_the_front_ends_table_style(
    shell: InteractiveShell,
) -> None:
    run(shell, CELL)
    actions = [a for a in (shell.user_ns.get(n) for n in ("add", "fetch")) if a is not None]
    parser = _Styles()
    parser.feed(Registered(actions, [])._repr_html_())
    # JupyterLab right-aligns table cells, fixes the layout and centres the table: the
    # inline styles (which its sanitizer keeps) win over that.
    [table] = parser.styles["table"]
    assert "table-layout:auto" in table and "margin:4px 0" in table
    cells = parser.styles["th"] + parser.styles["td"]
    assert len(cells) == 3 * (1 + len(actions)) and all("text-align:left" in c for c in cells), cells
    # Signatures stay on one line; a table wider than the page scrolls in its own box.
    assert any("overflow-x:auto" in c for c in parser.styles["div"])
    signatures = [c for c in parser.styles["code"] if c]
    assert len(signatures) == len(actions) and all("white-space:nowrap" in c for c in signatures)


class _Styles(HTMLParser):
    """The style attribute of every element, by tag."""

    def __init__(self) -> None:
        super().__init__()
        self.styles: dict[str, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.styles.setdefault(tag, []).append(dict(attrs).get("style") or "")


def test_the_summary_names_upload_parameters_by_their_public_type(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    run(shell, "from notebook_actions import UploadedFile")
    run(shell, "%%use_server\ndef keep(f: UploadedFile, more: list[UploadedFile]) -> int:\n    return 1\n")
    html = Registered([shell.user_ns["keep"]], [])._repr_html_()
    for text in (capsys.readouterr().out, html):
        assert "keep(f: UploadedFile, more: list[UploadedFile])" in text
        assert "notebook_actions._files" not in text


def test_cell_behaves_like_a_normal_cell(shell: InteractiveShell) -> None:
    result = shell.run_cell("%%use_server\ndef f():\n    return 1\n6 * 7", store_history=True)
    assert result.success
    assert shell.user_ns["_"] == 42
    assert shell.history_manager is not None
    history = [src for _, _, src in shell.history_manager.get_range()]
    assert history[-1].startswith("%%use_server")


def test_a_cell_that_raises_registers_nothing(shell: InteractiveShell) -> None:
    result = shell.run_cell("%%use_server\ndef f():\n    return 1\n1 / 0", store_history=True)
    assert not result.success
    assert registry.exported_actions() == []


def test_rerunning_replaces_the_action_and_keeps_its_id(shell: InteractiveShell) -> None:
    run(shell, "%%use_server\ndef f():\n    return 1\n", cell_id="cell-1")
    first = registry.exported("f")
    assert first is not None
    run(shell, "%%use_server\ndef f():\n    return 2\n", cell_id="cell-1")
    second = registry.exported("f")
    assert second is not None and second is not first
    assert second.id == first.id
    assert registry.get(first.id) is second  # a widget holding the old id gets the new version
    assert second() == 2


def test_rerunning_without_a_function_removes_it(shell: InteractiveShell) -> None:
    run(shell, "%%use_server\ndef f():\n    return 1\ndef g():\n    return 2\n", cell_id="cell-1")
    old = registry.exported("f")
    assert old is not None
    run(shell, "%%use_server\ndef g():\n    return 2\n", cell_id="cell-1")
    assert registry.exported("f") is None
    assert registry.get(old.id) is None
    # another cell's actions are untouched by re-running this one
    run(shell, "%%use_server\ndef h():\n    return 3\n", cell_id="cell-2")
    run(shell, "%%use_server\ndef g():\n    return 2\n", cell_id="cell-1")
    assert registry.exported("h") is not None


def test_unresolvable_annotation_is_a_clear_error(shell: InteractiveShell) -> None:
    result = shell.run_cell("%%use_server\nfrom __future__ import annotations\ndef f(x: Missing):\n    return x\n")
    assert not result.success
    assert "Missing" in str(result.error_in_exec)
    assert "nothing was registered" in str(result.error_in_exec)
    assert registry.exported_actions() == []


def test_var_args_are_refused_with_a_reason(shell: InteractiveShell) -> None:
    result = shell.run_cell("%%use_server\ndef f(*items):\n    return items\n")
    assert not result.success
    assert "*items" in str(result.error_in_exec)


def test_magic_takes_no_arguments(shell: InteractiveShell) -> None:
    result = shell.run_cell("%%use_server extra\ndef f():\n    return 1\n")
    assert not result.success
    assert "takes no arguments" in str(result.error_in_exec)


def test_inline_directive_inside_use_server_cell_is_exported(shell: InteractiveShell) -> None:
    run(shell, "%%use_server\ndef f(x: int):\n    'use server'\n    return x\n")
    action = registry.exported("f")
    assert action is not None and action.exported
    assert action(3) == 3
