"""%load_ext / %unload_ext and a plain import."""

from __future__ import annotations

import subprocess
import sys

from IPython.core.interactiveshell import InteractiveShell

from notebook_actions._inline import DECORATOR_NAME

from .conftest import run


def test_plain_import_does_not_touch_ipython_magics() -> None:
    code = "import sys, notebook_actions; print('IPython.core.magic' in sys.modules, 'ipywidgets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


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
