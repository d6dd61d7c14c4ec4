"""The extension as installed: enabled by the shipped config, configurable by traitlets."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from traitlets import TraitError

from notebook_actions.server import NotebookActions

from .conftest import server_test

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_config_enables_it_for_jupyter_server_extension_list(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "JUPYTER_CONFIG_PATH": str(ROOT / "jupyter_extension"),
        "JUPYTER_CONFIG_DIR": str(tmp_path),
        "NO_COLOR": "1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_server.extension.serverextension", "list"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    output = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)
    assert re.search(r"notebook_actions\s+enabled", output)
    assert re.search(r"notebook_actions [0-9.]+\s+OK", output)


def test_options_are_checked() -> None:
    assert NotebookActions().max_body_bytes == 1 << 20
    assert NotebookActions().timeout == 30
    assert NotebookActions().tcp_nodelay is True
    assert NotebookActions().expose_exception_messages is False
    for name, value in (("timeout", 0), ("max_body_bytes", 0), ("max_upload_bytes", -1), ("upload_chunk_bytes", 0)):
        with pytest.raises(TraitError, match=name):
            NotebookActions(**{name: value})


@pytest.mark.parametrize("notebook_actions_config", [{"timeout": 7.5, "max_upload_bytes": 12345}])
@server_test
async def test_config_reaches_the_extension(jp_serverapp: Any) -> None:
    config = jp_serverapp.web_app.settings["notebook_actions"].config
    assert config.timeout == 7.5
    assert config.max_upload_bytes == 12345
