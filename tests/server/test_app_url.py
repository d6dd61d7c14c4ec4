"""In JupyterLab, ``%%use_server``'s output links to the notebook's app page when the server
that runs the kernel serves that notebook: a real server serving one notebook, and kernels
started by sessions as JupyterLab starts them (so jupyter-server names their notebook)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .conftest import execute, server_test
from .test_serve import (  # noqa: F401 (fixtures)
    APP,
    LOAD,
    Fetch,
    all_ready,
    notebook_actions_config,
    served,
    wait_for,
    write_notebook,
)

CELL = '%%use_server\ndef ping() -> str:\n    return "pong"\n'


async def registered(serverapp: Any, path: str) -> tuple[str, str]:
    """``%%use_server``'s output (text, HTML) in a kernel of a session on ``path``."""
    session = await serverapp.session_manager.create_session(
        path=path, name=Path(path).name, type="notebook", kernel_name="python3"
    )
    kid = session["kernel"]["id"]
    try:
        outputs = await execute(serverapp, kid, f"{LOAD}\n")
        outputs = await execute(serverapp, kid, CELL)
    finally:
        await serverapp.session_manager.delete_session(session["id"])
    data = next(o["data"] for o in outputs if "data" in o)
    return str(data["text/plain"]), str(data["text/html"])


@server_test
async def test_the_output_links_to_the_app_page_of_a_served_notebook_only(
    jp_fetch: Fetch, jp_serverapp: Any, jp_root_dir: Path
) -> None:
    await wait_for(jp_fetch, all_ready())
    url = f"{jp_serverapp.connection_url}notebook-actions/apps/{APP}"
    text, page = await registered(jp_serverapp, APP)
    assert f"App page (this notebook, served by this server): {url}" in text
    assert f'<a href="{url}"' in page
    write_notebook(jp_root_dir / "apps" / "other.ipynb", [LOAD])
    text, page = await registered(jp_serverapp, "apps/other.ipynb")  # beside it, not served
    assert "ping" in text
    assert "App page" not in text and "App page" not in page
