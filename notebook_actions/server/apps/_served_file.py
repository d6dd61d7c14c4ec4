"""The served notebooks on disk, beside jupyter-server's ``jpserver-<pid>.json``: a kernel of this
server reads it (``_server_url.app_url``) to show its notebook's app URL in ``%%use_server``'s
output, as it finds its server's URL, without a request to the server."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from ..._routes import app_route
from ..._server_url import SERVED_FILE


def write_served_file(runtime_dir: str, paths: list[str]) -> Path | None:
    """Write the file for this server's ``paths``; None (and no file) when it serves none."""
    if not paths:
        return None
    target = Path(runtime_dir) / SERVED_FILE.format(pid=os.getpid())
    partial = target.with_suffix(".partial")  # renamed whole: a kernel never reads half of it
    partial.write_text(json.dumps({"notebooks": {path: app_route(path) for path in paths}}))
    partial.replace(target)
    return target


def remove_served_file(target: Path | None) -> None:
    if target is not None:
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
