"""Where this kernel's Jupyter server is, found from files on disk: no request to any server.

jupyter-server writes its connection info (``url``, with the base URL, and ``pid``) to
``jpserver-<pid>.json`` in its runtime directory, and writes its kernels' connection files
(``kernel-<id>.json``) to that same directory; the kernel is its child process. So the server
of this kernel is the one in the connection file's directory whose ``pid`` is this process's
parent. Nothing is asked over HTTP: a cell never waits on a server, and no server logs a 404
for a kernel it does not know.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

#: Shown when the server cannot be found (a kernel a server did not start, one on a gateway).
PLACEHOLDER_URL = "http://localhost:8888/"

#: What a command or a client's config holds instead of the token, so that the token never lands
#: in a saved notebook: the shell expands it in a curl command, and MCP clients that read the
#: environment (Claude Code, Cursor) expand it in their config. ``jupyter server list`` shows it.
TOKEN_PLACEHOLDER = "${JUPYTER_TOKEN}"  # noqa: S105  (a placeholder, not a secret)


def _connection_file() -> Path | None:
    try:
        from ipykernel.connect import get_connection_file

        return Path(get_connection_file())
    except Exception:  # not in a kernel
        return None


def server_url() -> str:
    """The URL (with base URL, ending in ``/``) of the Jupyter server that started this kernel."""
    connection_file = _connection_file()
    if connection_file is None:
        return PLACEHOLDER_URL
    parent = os.getppid()
    for info_file in sorted(connection_file.parent.glob("jpserver-*.json")):
        try:
            info = json.loads(info_file.read_text())
        except (OSError, ValueError):
            continue  # a server writing or removing its file right now
        if isinstance(info, dict) and info.get("pid") == parent and isinstance(info.get("url"), str):
            url: str = info["url"]
            return url if url.endswith("/") else f"{url}/"
    return PLACEHOLDER_URL
