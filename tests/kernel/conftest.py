"""A real IPython shell with the extension loaded."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.testing import globalipapp


@pytest.fixture
def shell() -> Iterator[InteractiveShell]:
    globalipapp.start_ipython()
    ip = globalipapp.get_ipython()
    ip.reset(new_session=True)
    ip.run_line_magic("load_ext", "notebook_actions")
    yield ip
    ip.run_line_magic("unload_ext", "notebook_actions")
    ip.reset(new_session=True)


def run(shell: InteractiveShell, source: str, cell_id: str | None = None) -> Any:
    """Run a cell as the kernel would; raise if it failed."""
    result = shell.run_cell(source, store_history=True, cell_id=cell_id)
    result.raise_error()
    return result.result
