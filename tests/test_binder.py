"""binder/ installs this package and enables the server extension this package installs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import notebook_actions

tomllib = pytest.importorskip("tomllib")  # Python 3.11+; CI runs 3.11

ROOT = Path(__file__).parent.parent


def test_binder_installs_this_package_and_enables_its_extension() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"]
    post_build = (ROOT / "binder" / "postBuild").read_text()
    assert "pip install --no-cache-dir ." in post_build  # the repository itself, i.e. `project`
    assert project == "notebook-actions"

    (shipped,) = json.loads((ROOT / "jupyter_extension/jupyter_server_config.d/notebook_actions.json").read_text())[
        "ServerApp"
    ]["jpserver_extensions"]
    assert f"jupyter server extension enable --sys-prefix {shipped}" in post_build
    assert [p["module"].split(".")[0] for p in notebook_actions._jupyter_server_extension_points()] == [shipped]


def test_binder_gets_jupyterlab() -> None:
    assert "jupyterlab" in (ROOT / "binder" / "requirements.txt").read_text()
