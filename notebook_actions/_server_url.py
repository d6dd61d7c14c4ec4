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
from typing import Any

from ._routes import notebook_path

#: Shown when the server cannot be found (a kernel a server did not start, one on a gateway).
PLACEHOLDER_URL = "http://localhost:8888/"

#: What a command or a client's config holds instead of the token, so that the token never lands
#: in a saved notebook: the shell expands it in a curl command, and MCP clients that read the
#: environment (Claude Code, Cursor) expand it in their config. ``jupyter server list`` shows it.
TOKEN_PLACEHOLDER = "${JUPYTER_TOKEN}"  # noqa: S105  (a placeholder, not a secret)

#: Beside ``jpserver-<pid>.json``, the server extension writes the notebooks that server serves
#: (``{"notebooks": {path: app route}}``), so that a kernel can show its notebook's app URL.
SERVED_FILE = "notebook-actions-{pid}.json"


def _connection_file() -> Path | None:
    try:
        from ipykernel.connect import get_connection_file

        return Path(get_connection_file())
    except Exception:  # not in a kernel
        return None


def _server_info() -> tuple[Path, dict[str, Any]] | None:
    """The ``jpserver-<pid>.json`` of the server that started this kernel, and what it says."""
    connection_file = _connection_file()
    if connection_file is None:
        return None
    parent = os.getppid()
    for info_file in sorted(connection_file.parent.glob("jpserver-*.json")):
        try:
            info = json.loads(info_file.read_text())
        except (OSError, ValueError):
            continue  # a server writing or removing its file right now
        if isinstance(info, dict) and info.get("pid") == parent and isinstance(info.get("url"), str):
            return info_file, info
    return None


def server_url() -> str:
    """The URL (with base URL, ending in ``/``) of the Jupyter server that started this kernel."""
    found = _server_info()
    if found is None:
        return PLACEHOLDER_URL
    url: str = found[1]["url"]
    return url if url.endswith("/") else f"{url}/"


def _this_notebook(root_dir: object) -> str | None:
    """This kernel's notebook, relative to the server's root: jupyter-server names it in
    ``JPY_SESSION_NAME`` when a session (JupyterLab's) starts the kernel, as an absolute
    path when the session names its file, else as the session's path."""
    name = os.environ.get("JPY_SESSION_NAME")
    if not name:
        return None
    if Path(name).is_absolute():
        if not isinstance(root_dir, str) or not Path(name).is_relative_to(root_dir):
            return None  # not under the root: no route names it
        name = Path(name).relative_to(root_dir).as_posix()
    return notebook_path(name)


def app_url() -> str | None:
    """The app page's URL of this kernel's notebook when the server that started the kernel
    serves that notebook (``serve`` or ``c.NotebookActions.serve``), else None."""
    found = _server_info()
    if found is None:
        return None
    info_file, info = found
    notebook = _this_notebook(info.get("root_dir"))
    if notebook is None:
        return None
    try:
        served = json.loads((info_file.parent / SERVED_FILE.format(pid=info["pid"])).read_text())
    except (OSError, ValueError):
        return None  # the server serves nothing (or is not ours)
    notebooks = served.get("notebooks") if isinstance(served, dict) else None
    route = notebooks.get(notebook) if isinstance(notebooks, dict) else None
    if not isinstance(route, str):
        return None  # not a notebook this server serves
    return server_url().rstrip("/") + route
