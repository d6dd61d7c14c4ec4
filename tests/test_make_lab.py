"""What `make lab` sets up beyond the install: JupyterLab's settings for this project."""

from __future__ import annotations

import sys
from pathlib import Path

from jupyterlab_server.settings_utils import get_settings

NOTIFICATIONS = "@jupyterlab/apputils-extension:notification"


def test_jupyterlab_never_asks_to_fetch_news(tmp_path: Path) -> None:
    """lab/overrides.json, installed into the venv by the Makefile, is what a fresh user of
    `make lab` gets (no user settings of their own): no news prompt, no update check."""
    lab = Path(sys.prefix) / "share" / "jupyter" / "lab"
    settings, _ = get_settings(
        app_settings_dir=str(lab / "settings"),
        schemas_dir=str(lab / "schemas"),
        settings_dir=str(tmp_path),  # no user settings
        schema_name=NOTIFICATIONS,
    )
    # Overrides become the schema's defaults, which the page uses when the user set nothing.
    defaults = {name: prop.get("default") for name, prop in settings["schema"]["properties"].items()}
    assert settings["settings"] == {}
    assert defaults["fetchNews"] == "false"
    assert defaults["checkForUpdates"] is False
