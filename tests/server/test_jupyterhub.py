"""``jupyter notebook-actions serve`` as a JupyterHub service: a real hub (with its proxy,
configurable-http-proxy from npm) on loopback runs serve as a service; visitors sign in with
the hub's OAuth as they do for their notebooks, and who may use it is the hub's access scope.

Users a and b have a role with ``access:services!service=todo``, c has none. The served
notebook keeps a to-do list per ``current_user().name``, and says who is calling. A second
service, ``ext``, is external (the test starts it, with the variables docs/jupyterhub.md
names): the same sign-in, and its own scope.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e._servers import BIN, REPO, descendants, end, free_port, isolated_env

from ._served import write_notebook

PROXY = REPO / "node_modules" / ".bin" / "configurable-http-proxy"
PASSWORD = secrets.token_urlsafe(12)
START_SECONDS = 150.0
# The hub stops its service with one SIGTERM: no waiting for the drain (nothing is in flight).
QUICK_STOP = ["--NotebookActions.drain_timeout=0.5"]

NOTEBOOK = "todo.ipynb"
ACTIONS = '''
%%use_server
from notebook_actions import current_user

LISTS: dict[str, list[str]] = {}


def whoami(user: str = "") -> dict:
    """Who is calling (a `user` argument changes nothing)."""
    me = current_user()
    return {"name": me.name, "groups": me.groups, "anonymous": me.anonymous, "via": me.via}


def add_todo(title: str) -> list[str]:
    """Add to the caller's own list; returns it."""
    mine = LISTS.setdefault(current_user().name, [])
    mine.append(title)
    return mine


def list_todos() -> list[str]:
    return LISTS.get(current_user().name, [])
'''

pytestmark = pytest.mark.timeout(300)  # the module's hub and its two services start in the first test


@dataclass
class Hub:
    url: str  # the hub's public URL (its proxy), ending in /
    process: subprocess.Popen[bytes]
    log: Path
    others: list[subprocess.Popen[bytes]] = field(default_factory=list)  # the external service
    seen: dict[int, str] = field(default_factory=dict)  # PID: start time, to end them for sure

    def remember(self) -> None:
        for process in (self.process, *self.others):
            if process.poll() is None:
                with contextlib.suppress(OSError):
                    self.seen.update(descendants(process.pid))

    def wait_for(self, test: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + START_SECONDS
        while True:
            for process in (self.process, *self.others):
                if process.poll() is not None:
                    raise AssertionError(f"{process.args!r} exited waiting for {what}:\n{self.tail()}")
            with contextlib.suppress(requests.RequestException):
                if test():
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"never got to {what}:\n{self.tail()}")
            time.sleep(0.1)

    def tail(self) -> str:
        logs = sorted(self.log.parent.glob("*.log"))
        return "\n".join(f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-30:]) for p in logs)

    def stop(self) -> None:
        self.remember()
        # The hub stops the services it runs and its proxy when it stops (SIGTERM).
        for process in (*self.others, self.process):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                if process is not self.process:
                    process.send_signal(signal.SIGTERM)  # a serve: the second one stops it at once
        for process in (*self.others, self.process):
            _wait_or_kill(process)
        for pid, started in self.seen.items():
            end(pid, started)


def _ready(health: str) -> bool:
    return requests.get(health, timeout=10).status_code == 200


def _wait_or_kill(process: subprocess.Popen[bytes]) -> None:
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _config(root: Path, public: int, todo_port: int, ext_port: int, ext_token: str, env: dict[str, str]) -> str:
    jupyter_env = {k: v for k, v in env.items() if k.startswith(("JUPYTER", "IPYTHON")) or k == "HOME"}
    config = {
        "bind_url": f"http://127.0.0.1:{public}",
        "hub_bind_url": f"http://127.0.0.1:{free_port()}",
        "proxy_api": f"http://127.0.0.1:{free_port()}",
        "proxy": str(PROXY),
        "root": str(root),
        "password": PASSWORD,
        "services": [
            {
                # Managed: the hub starts it, with its settings in the environment.
                "name": "todo",
                "url": f"http://127.0.0.1:{todo_port}",
                "command": [str(BIN / "jupyter"), "notebook-actions", "serve", NOTEBOOK, *QUICK_STOP],
                "cwd": str(root / "root"),  # where write_notebook put it
                "environment": jupyter_env,
                "oauth_no_confirm": True,
            },
            {
                # External: the test starts it.
                "name": "ext",
                "url": f"http://127.0.0.1:{ext_port}",
                "api_token": ext_token,
                "oauth_no_confirm": True,
            },
        ],
    }
    return f"""
import json
settings = json.loads({json.dumps(json.dumps(config))})
c = get_config()  # noqa
c.JupyterHub.bind_url = settings["bind_url"]
c.JupyterHub.hub_bind_url = settings["hub_bind_url"]
c.ConfigurableHTTPProxy.api_url = settings["proxy_api"]
c.ConfigurableHTTPProxy.command = [settings["proxy"]]
c.ConfigurableHTTPProxy.pid_file = settings["root"] + "/proxy.pid"
c.JupyterHub.db_url = "sqlite:///" + settings["root"] + "/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = settings["root"] + "/jupyterhub_cookie_secret"
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = settings["password"]
c.Authenticator.allowed_users = {{"a", "b", "c"}}
c.JupyterHub.load_groups = {{"staff": {{"users": ["a"]}}}}
c.JupyterHub.load_roles = [
    {{
        "name": "app-users",
        "scopes": ["access:services!service=todo", "access:services!service=ext"],
        "users": ["a", "b"],
    }}
]
c.JupyterHub.services = settings["services"]
"""


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    if not PROXY.exists():
        pytest.fail(f"{PROXY} is missing: `npm ci` installs it (package.json; the Makefile's node_modules)")
    base = tmp_path_factory.mktemp("jupyterhub")
    root = base / "root"
    write_notebook(root / NOTEBOOK, ACTIONS)
    env = isolated_env(base / "home", {})
    public, todo_port, ext_port, ext_token = free_port(), free_port(), free_port(), secrets.token_hex(16)
    config = base / "jupyterhub_config.py"
    config.write_text(_config(base, public, todo_port, ext_port, ext_token, env))
    log = base / "hub.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(BIN / "jupyterhub"), "-f", str(config)],
            cwd=base,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    running = Hub(f"http://127.0.0.1:{public}/", process, log)
    try:
        # The external service: what its admin sets (docs/jupyterhub.md), nothing more.
        ext_env = {
            **env,
            "JUPYTERHUB_SERVICE_NAME": "ext",
            "JUPYTERHUB_API_TOKEN": ext_token,
            "JUPYTERHUB_API_URL": f"http://127.0.0.1:{public}/hub/api",
            "JUPYTERHUB_SERVICE_URL": f"http://127.0.0.1:{ext_port}",
        }
        with (base / "ext.log").open("wb") as output:
            running.others.append(
                subprocess.Popen(
                    [str(BIN / "jupyter"), "notebook-actions", "serve", NOTEBOOK, "--jupyterhub", *QUICK_STOP],
                    cwd=root,
                    env=ext_env,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
            )
        for name in ("todo", "ext"):
            health = f"{running.url}services/{name}/notebook-actions/health"
            running.wait_for(functools.partial(_ready, health), f"service {name} ready")
        running.remember()
        yield running
    finally:
        running.stop()


def page(hub: Hub, service: str = "todo") -> str:
    return f"{hub.url}services/{service}/notebook-actions/apps/{NOTEBOOK}"


def action(hub: Hub, name: str, service: str = "todo") -> str:
    return f"{hub.url}services/{service}/notebook-actions/api/notebooks/{NOTEBOOK}/actions/{name}"


def sign_in(hub: Hub, user: str, service: str = "todo") -> tuple[requests.Session, requests.Response]:
    """Open the service's app page as a browser would: to the hub's login, sign in, and back."""
    session = requests.Session()
    login = session.get(page(hub, service), timeout=60)
    assert login.status_code == 200 and "/hub/login" in login.url, (login.status_code, login.url)
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', login.text)
    assert xsrf is not None, login.text
    form = {"username": user, "password": PASSWORD, "_xsrf": xsrf.group(1)}
    return session, session.post(login.url, data=form, timeout=60)


def call(session: requests.Session, hub: Hub, name: str, args: Any = None, **kwargs: Any) -> requests.Response:
    """A call from the signed-in browser's page: its cookies and the service's XSRF token."""
    service = kwargs.pop("service", "todo")
    xsrf = session.cookies.get("_xsrf", path=f"/services/{service}/")
    headers = {**({"X-XSRFToken": xsrf} if xsrf else {}), **kwargs.pop("headers", {})}
    return session.post(action(hub, name, service), json=args or {}, headers=headers, timeout=60, **kwargs)


def value(response: requests.Response) -> Any:
    assert response.status_code == 200, (response.status_code, response.text)
    return response.json()["value"]


@pytest.fixture(scope="module")
def signed_in(hub: Hub) -> dict[str, requests.Session]:
    sessions = {}
    for user in ("a", "b"):
        session, landed = sign_in(hub, user)
        # Back on the page asked for, signed in.
        assert landed.status_code == 200, hub.tail()
        assert landed.url == page(hub), landed.url
        assert "text/html" in landed.headers["Content-Type"]
        sessions[user] = session
    return sessions


def test_each_user_signed_in_with_the_hub_sees_their_own_list(hub: Hub, signed_in: dict[str, requests.Session]) -> None:
    a, b = signed_in["a"], signed_in["b"]
    assert value(call(a, hub, "add_todo", {"title": "milk"})) == ["milk"]
    assert value(call(b, hub, "add_todo", {"title": "bread"})) == ["bread"]
    assert value(call(a, hub, "add_todo", {"title": "eggs"})) == ["milk", "eggs"]
    assert value(call(a, hub, "list_todos")) == ["milk", "eggs"]
    assert value(call(b, hub, "list_todos")) == ["bread"]


def test_current_user_is_the_hub_user_with_their_groups(hub: Hub, signed_in: dict[str, requests.Session]) -> None:
    assert value(call(signed_in["a"], hub, "whoami")) == {
        "name": "a",
        "groups": ["staff"],
        "anonymous": False,
        "via": "http",
    }
    assert value(call(signed_in["b"], hub, "whoami"))["groups"] == []


def test_a_user_without_the_access_scope_gets_403(hub: Hub) -> None:
    session, landed = sign_in(hub, "c")
    # Signed in to the hub, which does not let the service sign c in.
    assert landed.status_code == 403, (landed.status_code, landed.url)
    assert call(session, hub, "whoami").status_code == 403


def test_forged_identities_are_ignored(hub: Hub, signed_in: dict[str, requests.Session]) -> None:
    # With no session: a header naming a user gets no one in.
    anonymous = requests.post(action(hub, "whoami"), json={}, headers={"X-Forwarded-User": "a"}, timeout=30)
    assert anonymous.status_code == 403
    forged = requests.Session()
    forged.cookies.set("service-todo", "forged", path="/services/todo/")
    assert call(forged, hub, "whoami", headers={"X-Forwarded-User": "a"}).status_code == 403
    # Signed in as b: a header or an argument naming a changes nothing.
    as_b = call(signed_in["b"], hub, "whoami", {"user": "a"}, headers={"X-Forwarded-User": "a", "X-Remote-User": "a"})
    assert value(as_b)["name"] == "b"
    assert value(call(signed_in["b"], hub, "list_todos", headers={"X-Forwarded-User": "a"})) == ["bread"]


def test_an_external_service_signs_visitors_in_the_same_way(hub: Hub) -> None:
    session, landed = sign_in(hub, "a", service="ext")
    assert landed.status_code == 200 and landed.url == page(hub, "ext"), (landed.status_code, landed.url)
    assert value(call(session, hub, "whoami", service="ext"))["name"] == "a"
    assert sign_in(hub, "c", service="ext")[1].status_code == 403


def test_a_program_calls_with_a_hub_api_token(hub: Hub, signed_in: dict[str, requests.Session]) -> None:
    # A user's own API token (here made in the hub's API with their session) reaches the service.
    session = signed_in["b"]
    xsrf = session.cookies.get("_xsrf", path="/hub/")
    made = session.post(
        f"{hub.url}hub/api/users/b/tokens",
        json={"note": "test", "scopes": ["access:services!service=todo"]},
        headers={"X-XSRFToken": xsrf or ""},
        timeout=30,
    )
    assert made.status_code == 201, made.text
    token = made.json()["token"]
    answer = requests.post(action(hub, "whoami"), json={}, headers={"Authorization": f"token {token}"}, timeout=30)
    assert value(answer)["name"] == "b"
