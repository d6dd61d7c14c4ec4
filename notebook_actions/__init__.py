"""notebook-actions: Next.js-style Server Actions for Jupyter.

``%load_ext notebook_actions``, then a ``%%use_server`` cell exports every public
function it defines; ``'use server'`` as a function's first statement makes an
inline action. Widgets (``Form``, ``ActionButton``) and the server extension's HTTP
endpoints invoke them; what leaves the kernel is an opaque id, the arguments and the
result, never the function, its closure or the kernel's globals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._action import Action, action
from ._caller import Caller, NotInAction, current_user
from ._files import UploadedFile
from ._progress import Progress
from ._secret import Secret

if TYPE_CHECKING:  # typed for users' checkers and editors; imported lazily at run time (below)
    from ._curl import curl_command
    from ._mcp_config import mcp_config
    from ._view import View, revalidate
    from .widgets import ActionButton, Form

__all__ = [
    "Action",
    "ActionButton",
    "Caller",
    "Form",
    "NotInAction",
    "Progress",
    "Secret",
    "UploadedFile",
    "View",
    "action",
    "curl_command",
    "current_user",
    "mcp_config",
    "revalidate",
]
__version__ = "0.1.0"

# These import anywidget/ipywidgets: load them only when asked for.
_LAZY = {
    "Form": "widgets",
    "ActionButton": "widgets",
    "View": "_view",
    "revalidate": "_view",
    "curl_command": "_curl",
    "mcp_config": "_mcp_config",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    message = f"module 'notebook_actions' has no attribute {name!r}"
    raise AttributeError(message)


def load_ipython_extension(ipython: Any) -> None:
    # Imported here so that a plain `import notebook_actions` never touches IPython's magics.
    from ._extension import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from ._extension import unload

    unload(ipython)


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .server._serve import NotebookActionsApp

    return [{"module": "notebook_actions.server", "app": NotebookActionsApp}]
