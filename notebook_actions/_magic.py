"""``%%use_server``: every public function the cell defines becomes an exported action."""

from __future__ import annotations

import ast
import html
import re
import types
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, magics_class
from IPython.display import display

from ._action import Action
from ._kernel import supports_subshells
from ._registry import registry
from ._routes import actions_path, mcp_route
from ._server_url import app_url

THREADSAFE_FLAG = "--threadsafe"

NO_SUBSHELLS = (
    "this kernel has no subshells (ipykernel < 7): threadsafe actions wait for a running "
    "cell like the others (ipykernel >= 7 lets them answer while a cell runs)"
)


def top_level_functions(source: str) -> list[str]:
    """Names of the public functions a cell defines at its top level, in order."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []  # running the cell reports it
    return [
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_")
    ]


def kernel_id() -> str | None:
    """This kernel's id, as jupyter-server names it (from the connection file)."""
    try:
        from ipykernel.connect import get_connection_file

        match = re.search(r"kernel-([0-9a-fA-F-]{36})\.json$", get_connection_file())
    except Exception:  # not in a kernel started by a server
        return None
    return match.group(1) if match else None


# JupyterLab styles an output's tables for numbers (right-aligned cells, a fixed layout,
# centred), which squeezes signatures into a narrow column and wraps them: inline styles
# (a <style> element would not survive the sanitizer of an untrusted notebook) make it a
# left-aligned listing whose signatures stay on one line.
_TABLE = "table-layout:auto;margin:4px 0;border-collapse:collapse"
_CELL = "text-align:left;vertical-align:top;padding:2px 16px 2px 0"
_SIGNATURE = "white-space:nowrap"
# A table wider than the page (a phone, an app page) scrolls inside its box, not the page.
_SCROLL = "overflow-x:auto;max-width:100%"


class Registered:
    """The cell's output: what was registered and how to reach it."""

    def __init__(self, actions: list[Action[Any]], removed: list[str], notes: list[str] | None = None) -> None:
        self.actions = actions
        self.removed = removed
        self.notes = notes or []
        kid = kernel_id()
        self.route = actions_path(kid) + "/"
        self.mcp = mcp_route(kid)
        self.app_url = app_url() if actions else None  # when this server serves the notebook

    def __repr__(self) -> str:
        if not self.actions:
            lines = ["No public functions in this cell: nothing registered."]
        else:
            lines = [f"Registered {len(self.actions)} server action(s):"]
            lines += [
                f"  {a.signature_text}{_mark(a)}  ->  Form({a.name}) | POST {self.route}{a.name}" for a in self.actions
            ]
        lines += [f"  removed: {name} (no longer defined in this cell)" for name in self.removed]
        lines += [f"  note: {note}" for note in self.notes]
        if self.actions:
            lines.append(f"  MCP tools at {self.mcp} (notebook_actions.mcp_config() prints a client's config)")
        if self.app_url:
            lines.append(f"  App page (this notebook, served by this server): {self.app_url}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        td = f'<td style="{_CELL}">'
        rows = "".join(
            f'<tr>{td}<code style="{_SIGNATURE}">{html.escape(a.signature_text)}</code>{html.escape(_mark(a))}</td>'
            f"{td}<code>Form({html.escape(a.name)})</code></td>"
            f"{td}<code>POST {html.escape(self.route + a.name)}</code></td></tr>"
            for a in self.actions
        )
        head_row = "".join(f'<th style="{_CELL}">{name}</th>' for name in ("action", "widget", "HTTP"))
        removed = "".join(f"<li>removed <code>{html.escape(n)}</code></li>" for n in self.removed)
        removed += "".join(f"<li>note: {html.escape(n)}</li>" for n in self.notes)
        mcp = ""
        if self.actions:
            mcp = f"<p>MCP tools at <code>{html.escape(self.mcp)}</code> (<code>mcp_config()</code>)</p>"
        if self.app_url:
            url = html.escape(self.app_url)
            link = f'<a href="{url}" target="_blank" rel="noopener">{url}</a>'
            mcp += f"<p>App page (this notebook, served by this server): {link}</p>"
        head = "No public functions: nothing registered"
        if self.actions:
            head = f"{len(self.actions)} server action(s) registered"
        return (
            f'<div class="notebook-actions-registered"><strong>{head}</strong>'
            f'<div style="{_SCROLL}"><table style="{_TABLE}"><tr>{head_row}</tr>{rows}</table></div>'
            f"<ul>{removed}</ul>{mcp}</div>"
        )


def _mark(action: Action[Any]) -> str:
    return "  [threadsafe]" if action.threadsafe else ""


@magics_class
class UseServerMagics(Magics):
    """Holds which cell registered which names, so re-running a cell without a
    function removes that action."""

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self.current_cell_id: str | None = None
        self._names_by_cell: dict[str, set[str]] = {}

    def pre_run_cell(self, info: Any) -> None:
        # The nested run below fires this again without a cell id; only a real cell sets it.
        if getattr(info, "cell_id", None):
            self.current_cell_id = info.cell_id

    @cell_magic
    def use_server(self, line: str, cell: str) -> None:
        """Run the cell, then register each public function it defines as an exported action.

        Exported actions are reachable by widgets and, by name, over HTTP through the
        notebook-actions server extension. ``%%use_server --threadsafe``: they may answer
        while another cell runs (their bodies run on another thread, beside it).
        """
        words = line.split()
        unknown = [word for word in words if word != THREADSAFE_FLAG]
        if unknown:
            message = (
                f"%%use_server takes no arguments but {THREADSAFE_FLAG} (got {' '.join(unknown)!r}); "
                "put the code in the cell body"
            )
            raise UsageError(message)
        threadsafe = THREADSAFE_FLAG in words
        cell_id = self.current_cell_id
        self.current_cell_id = None
        names = top_level_functions(self.shell.transform_cell(cell))  # type: ignore[union-attr]
        result = self.shell.run_cell(cell, store_history=False)  # type: ignore[union-attr]
        if not result.success:
            # The traceback is shown above; fail the cell too, so "run all" and nbclient stop.
            message = "the cell raised, so no action was registered: fix the error above and run the cell again"
            raise UsageError(message)

        user_ns = self.shell.user_ns  # type: ignore[union-attr]
        actions: list[Action[Any]] = []
        problems: list[str] = []
        for name in names:
            value = user_ns.get(name)
            func = value.func if isinstance(value, Action) else value
            if not isinstance(func, types.FunctionType) or func.__name__ != name:
                continue  # rebound to something else by the end of the cell
            # --threadsafe marks them all; @action(threadsafe=True) in the cell marks one
            # (and @action(max_concurrency=N) limits one).
            marked = threadsafe or (isinstance(value, Action) and value.threadsafe)
            limit = value.max_concurrency if isinstance(value, Action) else None
            made = Action(func, exported=True, threadsafe=marked, max_concurrency=limit)
            try:
                _ = made.signature  # resolve the type hints now, where the user sees it
            except TypeError as err:
                problems.append(str(err))
                continue
            actions.append(made)
        if problems:
            message = "nothing was registered: " + "; ".join(problems)
            raise UsageError(message)

        for made in actions:
            registry.add(made)
            user_ns[made.name] = made
        removed: list[str] = []
        if cell_id is not None:
            now = {a.name for a in actions}
            for gone in sorted(self._names_by_cell.get(cell_id, set()) - now):
                registry.remove(gone)
                removed.append(gone)
            self._names_by_cell[cell_id] = now
        notes = []
        if any(a.threadsafe for a in actions) and supports_subshells() is False:
            notes.append(NO_SUBSHELLS)
        display(Registered(actions, removed, notes))  # type: ignore[no-untyped-call]
