"""%load_ext / %unload_ext and a plain import."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from IPython.core.interactiveshell import InteractiveShell

from notebook_actions._inline import DECORATOR_NAME

from .conftest import run


def test_plain_import_does_not_touch_ipython_magics() -> None:
    code = "import sys, notebook_actions; print('IPython.core.magic' in sys.modules, 'ipywidgets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_the_lazily_imported_public_names_are_declared_for_type_checkers() -> None:
    # `from notebook_actions import Form` is typed for users (py.typed + the
    # TYPE_CHECKING imports), while at run time it is still imported on first use.
    import notebook_actions

    tree = ast.parse(Path(notebook_actions.__file__).read_text())
    guarded = next(n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING")
    declared = {alias.name for node in guarded.body if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert declared == set(notebook_actions._LAZY)
    assert (Path(notebook_actions.__file__).parent / "py.typed").exists()
    from notebook_actions.widgets import Form

    assert notebook_actions.Form is Form


def test_the_kernel_log_is_set_up_when_the_extension_loads_not_on_import() -> None:
    code = (
        "import logging, notebook_actions._dispatcher, notebook_actions.widgets\n"
        "log = logging.getLogger('notebook_actions')\n"
        "print(len(log.handlers))\n"
        "from IPython.testing.globalipapp import start_ipython\n"
        "start_ipython().run_line_magic('load_ext', 'notebook_actions')\n"
        "print(len(log.handlers), log.propagate)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "1", "False"]


def test_loading_twice_is_harmless(shell: InteractiveShell) -> None:
    shell.run_line_magic("load_ext", "notebook_actions")
    assert sum(type(t).__name__ == "InlineDirective" for t in shell.ast_transformers) == 1
    run(shell, "def f(x: int):\n    'use server'\n    return x\n")
    assert type(shell.user_ns["f"]).__name__ == "Action"


def test_unload_removes_magic_transformer_and_helper(shell: InteractiveShell) -> None:
    shell.run_line_magic("unload_ext", "notebook_actions")
    try:
        assert "use_server" not in shell.magics_manager.magics["cell"]
        assert not any(type(t).__name__ == "InlineDirective" for t in shell.ast_transformers)
        assert DECORATOR_NAME not in shell.user_ns
        run(shell, "def f(x):\n    'use server'\n    return x\n")
        assert type(shell.user_ns["f"]).__name__ == "function"
    finally:
        shell.run_line_magic("load_ext", "notebook_actions")


def test_helper_is_hidden_from_who(shell: InteractiveShell) -> None:
    run(shell, "visible = 1")
    assert DECORATOR_NAME not in shell.run_line_magic("who_ls", "")
