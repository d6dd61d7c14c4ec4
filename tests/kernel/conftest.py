"""Helpers for the kernel-side tests (the `shell` fixture is in tests/conftest.py)."""

from __future__ import annotations

from typing import Any

from IPython.core.interactiveshell import InteractiveShell


def run(shell: InteractiveShell, source: str, cell_id: str | None = None) -> Any:
    """Run a cell as the kernel would; raise if it failed."""
    result = shell.run_cell(source, store_history=True, cell_id=cell_id)
    result.raise_error()
    return result.result
