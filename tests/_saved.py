"""A notebook run headlessly and saved with its widget state, as JupyterLab saves one:
what a person would share. Tests search the saved text for what must not be in it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient


def saved_with_widget_state(tmp_path: Path, *sources: str) -> tuple[Any, str]:
    """Run a notebook of ``sources`` in ``tmp_path``, save it with widget state; the notebook
    and the saved file's text."""
    nb: Any = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    client = NotebookClient(
        nb, kernel_name="python3", timeout=60, store_widget_state=True, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    path = tmp_path / "saved.ipynb"
    nbformat.write(nb, path)
    return nb, path.read_text()
