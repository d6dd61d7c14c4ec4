"""current_user() in actions called over HTTP and MCP, through a real server and kernel: the
caller is the identity the server authenticated, never what the client says it is."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from jupyter_server.auth.identity import IdentityProvider, User
from traitlets.config import Config

from notebook_actions._caller import server_user_name

from .conftest import Kernel, body, invoke, server_test, start_kernel, stop_kernel
from .test_mcp import connect

WHO = """
%%use_server
import dataclasses
from notebook_actions import current_user


def whoami(user: str = "") -> dict:
    return dataclasses.asdict(current_user())


def names(n: int = 2):
    for _ in range(n):
        yield current_user().name
"""

THREADSAFE_WHO = """
%%use_server --threadsafe
def twhoami() -> dict:
    return dataclasses.asdict(current_user())
"""


@dataclass
class HubLikeUser(User):
    """A user with groups, as JupyterHub's identity provider gives."""

    groups: list[str] = field(default_factory=list)


USERS = {
    "alice-token": HubLikeUser(username="alice", name="alice", display_name="Alice A.", groups=["staff"]),
    "bob-token": HubLikeUser(username="bob", name="bob", display_name="Bob B."),
}


class NamedUsers(IdentityProvider):
    """Each token names its user (as JupyterHub's tokens do)."""

    def get_user(self, handler: Any) -> User | None:
        scheme, _, token = handler.request.headers.get("Authorization", "").partition(" ")
        user = USERS.get(token) if scheme.lower() in ("token", "bearer") else None
        if user is not None:
            handler._token_authenticated = True  # a token, not a cookie: no XSRF check
        return user


@pytest.fixture
def provider(request: pytest.FixtureRequest) -> type[IdentityProvider] | None:
    return getattr(request, "param", NamedUsers)


@pytest.fixture  # replaces conftest's: the identity provider under test
def jp_server_config(provider: type[IdentityProvider] | None) -> Config:
    config: dict[str, Any] = {"jpserver_extensions": {"notebook_actions": True}}
    if provider is not None:
        config["identity_provider_class"] = provider
    return Config({"ServerApp": config})


@pytest.fixture
def jp_auth_header(provider: type[IdentityProvider] | None, jp_serverapp: Any) -> dict[str, str]:
    if provider is None:
        return {"Authorization": f"token {jp_serverapp.identity_provider.token}"}
    return {"Authorization": "token alice-token"}


@pytest.fixture
def kernel(jp_serverapp: Any, jp_asyncio_loop: asyncio.AbstractEventLoop) -> Iterator[Kernel]:
    kid = start_kernel(jp_serverapp, jp_asyncio_loop, "%load_ext notebook_actions", WHO, THREADSAFE_WHO)
    yield Kernel(kid, jp_serverapp, jp_asyncio_loop)
    stop_kernel(jp_serverapp, jp_asyncio_loop, kid)


FORGED = {"X-Forwarded-User": "mallory", "X-Remote-User": "mallory"}
ALICE = {"name": "alice", "display_name": "Alice A.", "groups": ["staff"], "anonymous": False, "via": "http"}


@server_test
async def test_http_callers_are_who_the_server_authenticated_whatever_they_send(jp_fetch: Any, kernel: Kernel) -> None:
    forged_caller = {"name": "mallory", "anonymous": False, "via": "widget"}
    response = await invoke(jp_fetch, kernel, "whoami", {"user": "mallory"}, headers=FORGED)
    assert body(response)["value"] == ALICE
    # a caller field in the body is an argument the action does not take: refused, not believed
    response = await invoke(jp_fetch, kernel, "whoami", {"caller": forged_caller}, headers=FORGED)
    assert response.code == 422
    # a threadsafe action (its own lane, on the bridge's subshell) and a generator (every chunk)
    assert body(await invoke(jp_fetch, kernel, "twhoami", headers=FORGED))["value"] == ALICE
    assert body(await invoke(jp_fetch, kernel, "names", {"n": 3}))["value"] == ["alice"] * 3


@server_test
async def test_mcp_callers_are_who_the_server_authenticated(
    http_server: Any, jp_http_port: int, jp_base_url: str, kernel: Kernel
) -> None:
    url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}notebook-actions/mcp/kernels/{kernel.id}"
    async with connect(url, {"Authorization": "Bearer bob-token", **FORGED}) as session:
        result = await session.call_tool("whoami", {"user": "alice"})
    assert not result.is_error
    assert result.structured_content == {
        "name": "bob",
        "display_name": "Bob B.",
        "groups": [],
        "anonymous": False,
        "via": "mcp",
    }


@pytest.mark.parametrize("provider", [None], indirect=True)
@server_test
async def test_a_holder_of_jupyters_own_token_is_the_servers_user(jp_fetch: Any, kernel: Kernel) -> None:
    got = body(await invoke(jp_fetch, kernel, "whoami", headers=FORGED))["value"]
    name = server_user_name()
    assert got == {"name": name, "display_name": name, "groups": None, "anonymous": False, "via": "http"}


def test_an_app_pages_calls_are_via_app(tmp_path: Path) -> None:
    """A served notebook's page calls its Form's action by id: the caller says ``app``."""
    from ._served import request, start_serve, write_notebook
    from .test_app_page import page_config

    root = tmp_path / "root"
    write_notebook(root / "who.ipynb", WHO, "from notebook_actions import Form\nForm(whoami)")
    served = start_serve(root, tmp_path / "home", ["who.ipynb"], "--kernels=1")
    try:
        served.wait_for(lambda: served.status()["who.ipynb"]["kernels"][0]["state"] == "ready", "a ready kernel")
        page = request(
            served.port, "GET", "/notebook-actions/apps/who.ipynb", headers={**served.auth, "Accept": "text/html"}
        )
        config = page_config(page.body.decode())
        form = next(m["state"] for m in config["models"].values() if "action" in m["state"])
        url = config["invoke_url"] + form["action"]["id"]
        answer = request(served.port, "POST", url, {"user": "mallory"}, {**served.auth, **FORGED})
        assert answer.status == 200, answer
        name = server_user_name()
        assert answer.json()["value"] == {
            "name": name,
            "display_name": name,
            "groups": None,
            "anonymous": False,
            "via": "app",
        }
    finally:
        served.stop()
