"""The widgets' front end: plain ES modules joined into one ``_esm`` string.

anywidget loads a widget's ``_esm`` from a string, so it cannot import a sibling
file. The modules here import each other (``import {...} from "./client.js"``) so
that tsc checks them as they are; joining them drops those imports. The client
helper goes in wrapped in a function, so only its public names enter the module
it joins: a widget author's own top-level names cannot clash with its internals.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

HERE = Path(__file__).parent

#: The first line of client.js: how a module that already has the client is recognised.
CLIENT_MARKER = "// notebook-actions client"

#: What ``with_client`` puts in scope for a widget author.
AUTHOR_NAMES = ("callAction", "ActionError", "connectActions")

_SIBLING_IMPORT = re.compile(r'^import\s+\{[^}]*\}\s+from\s+"\./([\w-]+\.js)";[ \t]*\n', re.MULTILINE)
_EXPORT = re.compile(r"^export\s+(?=(?:async\s+)?function\b|class\b|const\b|let\b)", re.MULTILINE)
_EXPORTED_NAME = re.compile(
    r"^export\s+(?:async\s+)?(?:function\*?|class|const|let)\s+([A-Za-z_$][\w$]*)", re.MULTILINE
)


@cache
def source(name: str) -> str:
    return (HERE / name).read_text(encoding="utf-8")


def _strip(text: str) -> str:
    return _EXPORT.sub("", _SIBLING_IMPORT.sub("", text))


@cache
def client(names: tuple[str, ...] | None = None) -> str:
    """client.js as a block that defines only ``names`` (default: all it exports)."""
    text = source("client.js")
    exported = tuple(_EXPORTED_NAME.findall(text))
    wanted = exported if names is None else names
    missing = sorted(set(wanted) - set(exported))
    if missing:
        message = f"client.js does not export {', '.join(missing)}"
        raise ValueError(message)
    body = _strip(text).replace(CLIENT_MARKER, "// (inlined)", 1)
    return (
        f"{CLIENT_MARKER} (notebook_actions.widgets)\n"
        f"const {{ {', '.join(wanted)} }} = (() => {{\n{body}\n"
        f"return {{ {', '.join(wanted)} }};\n}})();\n"
    )


def _with_imports(names: tuple[str, ...]) -> list[str]:
    """The named modules and the sibling modules they import, each after what it imports.

    client.js is left out: ``bundle`` puts it first, wrapped.
    """
    ordered: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            message = f"the widget modules import each other in a cycle: {' -> '.join((*path, name))}"
            raise ValueError(message)
        if name in ordered or name == "client.js":
            return
        for imported in _SIBLING_IMPORT.findall(source(name)):
            visit(imported, (*path, name))
        ordered.append(name)

    for name in names:
        visit(name, ())
    return ordered


@cache
def bundle(*names: str) -> str:
    """client.js, then the named modules in order, each preceded by the sibling modules it
    imports; the last one's default export stays."""
    return client() + "".join(f"\n// --- {name}\n{_strip(source(name))}" for name in _with_imports(names))


@cache
def css(*names: str) -> str:
    return "".join(f"/* --- {name} */\n{source(name)}\n" for name in names)


#: The first line of buttons.css: how a sheet that already has it is recognised.
BUTTONS_MARKER = "/* notebook_actions' buttons"


def with_buttons(sheet: str) -> str:
    """A widget's CSS with buttons.css (the public ``na-button``/``na-primary`` classes) first."""
    if BUTTONS_MARKER in sheet:
        return sheet
    return source("buttons.css") + sheet


def with_client(esm: str) -> str:
    """A widget author's ES module with ``callAction``, ``ActionError`` and ``connectActions`` in scope."""
    if CLIENT_MARKER in esm:
        return esm
    if re.match(r"\s*https?://", esm):
        message = (
            "an ActionWidget needs its ES module as source text or a file path, not a URL: "
            "the notebook_actions client is prepended to it"
        )
        raise ValueError(message)
    return client(AUTHOR_NAMES) + "\n" + esm
