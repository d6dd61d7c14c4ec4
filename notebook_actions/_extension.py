"""``%load_ext notebook_actions`` and ``%unload_ext notebook_actions``."""

from __future__ import annotations

from typing import Any

from . import _comm
from ._inline import DECORATOR_NAME, InlineDirective, inline_action
from ._kernel import unwatch_cells, watch_cells
from ._log import use_kernel_log
from ._magic import UseServerMagics

_loaded: dict[int, tuple[UseServerMagics, InlineDirective]] = {}


def load(shell: Any) -> None:
    if id(shell) in _loaded:
        return  # loading twice is harmless
    use_kernel_log()
    magics = UseServerMagics(shell)
    shell.register_magics(magics)
    shell.events.register("pre_run_cell", magics.pre_run_cell)
    watch_cells(shell)  # so a waiting request can say that a cell is running
    transformer = InlineDirective()
    shell.ast_transformers.append(transformer)
    shell.user_ns[DECORATOR_NAME] = inline_action
    shell.user_ns_hidden[DECORATOR_NAME] = inline_action
    if getattr(shell, "kernel", None) is not None:
        _comm.register_target()
    _loaded[id(shell)] = (magics, transformer)


def unload(shell: Any) -> None:
    entry = _loaded.pop(id(shell), None)
    if entry is None:
        return
    magics, transformer = entry
    shell.magics_manager.magics["cell"].pop("use_server", None)
    shell.events.unregister("pre_run_cell", magics.pre_run_cell)
    unwatch_cells(shell)
    if transformer in shell.ast_transformers:
        shell.ast_transformers.remove(transformer)
    shell.user_ns.pop(DECORATOR_NAME, None)
    shell.user_ns_hidden.pop(DECORATOR_NAME, None)
    if getattr(shell, "kernel", None) is not None:
        _comm.unregister_target()
