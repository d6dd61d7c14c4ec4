"""Forms while a long cell runs, in JupyterLab and Notebook 7 in Chromium: a threadsafe action answers
while the cell's [*] still shows (JupyterLab sends widget messages on a subshell); a plain
one says it waits for the cell, then answers; cancel works on a threadsafe one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from ._jupyter import WAIT_MS, Jupyter

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def code(cell_id: str, source: str) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "id": cell_id,
        "metadata": {},
        "execution_count": None,
        "outputs": [],
        "source": source,
    }


def notebook(folder: Path) -> dict[str, Any]:
    started, release = folder / "started", folder / "release"
    cells = [
        code(
            "setup",
            "%load_ext notebook_actions\nimport asyncio, os, time\nfrom notebook_actions import Form\nphase = 'before'",
        ),
        code(
            "threadsafe",
            "%%use_server --threadsafe\n"
            "def quick(n: int) -> str:\n    return f'quick {n} during {phase}'\n\n"
            "async def linger(seconds: float) -> str:\n    await asyncio.sleep(seconds)\n    return 'lingered'\n",
        ),
        code("plain", "%%use_server\ndef plain(n: int) -> str:\n    return f'plain {n} {phase} the cell'\n"),
        code("forms", "from ipywidgets import VBox\nVBox([Form(quick), Form(plain), Form(linger)])"),
        code(
            "long",
            f"phase = 'during'\nopen({str(started)!r}, 'w').close()\n"
            f"while not os.path.exists({str(release)!r}):\n    time.sleep(0.05)\nphase = 'after'\n",
        ),
    ]
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "cells": cells,
    }


@pytest.mark.parametrize("front_end", ["lab", "notebook7"])
def test_forms_while_a_long_cell_runs(front_end: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    # Both send a widget's messages on a subshell per comm target by default.
    lab: Jupyter = request.getfixturevalue(front_end)
    (lab.server.root / "threadsafe.ipynb").write_text(json.dumps(notebook(tmp_path)))
    started, release = tmp_path / "started", tmp_path / "release"
    lab.open("threadsafe.ipynb")
    lab.command("notebook:run-all-cells")
    page = lab.page
    long_prompt = page.locator(".jp-Notebook .jp-Cell").nth(4).locator(".jp-InputPrompt")
    quick, plain, linger = lab.form("quick"), lab.form("plain"), lab.form("linger")
    expect(quick.field("n")).to_be_visible()
    for _ in range(WAIT_MS // 50):  # until the long cell runs (it made its file)
        if started.exists():
            break
        page.wait_for_timeout(50)
    assert started.exists(), "the long cell did not start"

    try:
        # Threadsafe: the result while the cell still runs.
        quick.fill(n="1")
        quick.submit()
        expect(quick.result).to_have_text("quick 1 during during")
        expect(long_prompt).to_contain_text("[*]")

        # Cancel works on a threadsafe call beside the cell.
        linger.fill(seconds="600")
        linger.submit()
        expect(linger.cancel).to_be_visible()
        linger.cancel.click()
        expect(linger.status).to_have_text("Cancelled.")
        expect(long_prompt).to_contain_text("[*]")

        # Plain: says it waits for the cell, then answers once it finished.
        plain.fill(n="2")
        plain.submit()
        expect(plain.status).to_contain_text("Waiting for the running cell to finish")
        expect(long_prompt).to_contain_text("[*]")
    finally:
        release.touch()
    expect(plain.result).to_have_text("plain 2 after the cell")
    expect(plain.status).to_have_text("Done.")
    expect(long_prompt).not_to_contain_text("[*]")
