"""Public apps (``serve --public``, ``NotebookActions.public``): anonymous visitors of a public
notebook, each named by a signed cookie, reach its app page and its actions' routes and
nothing else; what a client sends never names who it is; without the option, the token is
needed everywhere. Two real ``serve`` processes, plain HTTP clients with and without a
cookie jar (requests, curl)."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import schemathesis

from ._served import Served, start_serve, write_notebook
from .test_fuzz_http import FUZZ_ACTIONS, fuzz_every_operation

WHOAMI = """%%use_server
from notebook_actions import current_user

def whoami(user: str = "") -> dict:
    me = current_user()
    return {"name": me.name, "anonymous": me.anonymous, "via": me.via, "sent": user}
"""
APP, PRIVATE, FUZZ = "app.ipynb", "private.ipynb", "fuzz.ipynb"
PAGE = f"/notebook-actions/apps/{APP}"
VISITOR_COOKIE = "notebook-actions-visitor"


def call_url(notebook: str, name: str = "whoami") -> str:
    return f"/notebook-actions/api/notebooks/{notebook}/actions/{name}"


@dataclass
class Servers:
    # app.ipynb and fuzz.ipynb public (a list of paths), private.ipynb served, not public; a
    # rate limit high enough for the fuzzing below (all the tests' visitors share 127.0.0.1)
    public: Served
    closed: Served  # the same app.ipynb, no --public
    defaults: Served  # serve app.ipynb --public: every served notebook, the visitors' default limit

    @staticmethod
    def url(served: Served, path: str) -> str:
        return f"http://127.0.0.1:{served.port}{path}"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    root = tmp_path_factory.mktemp("public")
    write_notebook(root / APP, WHOAMI)
    write_notebook(root / PRIVATE, WHOAMI)
    write_notebook(root / FUZZ, FUZZ_ACTIONS.strip())
    # All start at once; then each is waited for.
    home = tmp_path_factory.mktemp
    public = start_serve(
        root,
        home("home"),
        [APP, PRIVATE, FUZZ],
        "--kernels=1",
        f"--NotebookActions.public={APP},{FUZZ}",
        "--NotebookActions.rate_limit=100000/minute",
    )
    closed = start_serve(root, home("home"), [APP], "--kernels=1", name="closed")
    defaults = start_serve(root, home("home"), [APP], "--kernels=1", "--public", name="defaults")
    try:
        for served in (public, closed, defaults):
            served.wait_for(functools.partial(_ready, served), "every pool ready")
        yield Servers(public, closed, defaults)
    finally:
        for served in (public, closed, defaults):
            served.stop()


def _ready(served: Served) -> bool:
    return served.health().status == 200


class Visitor:
    """A browser-like client: a cookie jar, and the XSRF token the app page gave it."""

    def __init__(self, served: Served) -> None:
        self.served = served
        self.session = requests.Session()
        page = self.get(PAGE)
        assert page.status_code == 200, page.text
        assert page.headers["Content-Type"].startswith("text/html")

    @property
    def xsrf(self) -> str:
        return self.session.cookies.get("_xsrf") or ""

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(Servers.url(self.served, path), timeout=60, allow_redirects=False, **kwargs)

    def post(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> requests.Response:
        sent = {"X-XSRFToken": self.xsrf, **(headers or {})}
        return self.session.post(
            Servers.url(self.served, path), json={} if body is None else body, headers=sent, timeout=60
        )

    def whoami(self, body: Any = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
        reply = self.post(call_url(APP), body, headers)
        assert reply.status_code == 200, reply.text
        return dict(reply.json()["value"])


def test_two_anonymous_visitors_are_two_stable_people(servers: Servers) -> None:
    a, b = Visitor(servers.public), Visitor(servers.public)
    first = a.whoami()
    assert first["anonymous"] is True
    assert first["via"] == "http"
    assert first["name"].startswith("visitor-")
    assert a.whoami()["name"] == first["name"]  # the same browser, the same visitor
    assert b.whoami()["name"] not in {first["name"], ""}
    # A visitor who deletes the cookie is a new visitor.
    a.session.cookies.clear()
    a.get(PAGE)
    assert a.whoami()["name"] != first["name"]


def test_a_tampered_cookie_is_ignored_and_replaced(servers: Servers) -> None:
    a = Visitor(servers.public)
    name = a.whoami()["name"]
    signed = a.session.cookies.get(VISITOR_COOKIE)
    assert signed
    # Change the visitor id inside the signed value (another visitor's, say): the signature fails.
    forged = signed.strip('"').split("|")
    forged[-2] = forged[-2][:-4] + ("AAA=" if forged[-2][-4:] != "AAA=" else "BBB=")
    a.session.cookies.set(VISITOR_COOKIE, "|".join(forged), domain="127.0.0.1", path="/")
    reply = a.post(call_url(APP))
    assert reply.status_code == 200, reply.text
    assert reply.json()["value"]["name"] not in {name, ""}
    assert VISITOR_COOKIE in reply.headers.get("Set-Cookie", "")  # a new, valid one
    # And what is not a signed value at all is a new visitor too, never the name it says.
    a.session.cookies.set(VISITOR_COOKIE, name.removeprefix("visitor-"), domain="127.0.0.1", path="/")
    assert a.whoami()["name"] != name


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Forwarded-User": "admin"},
        {"X-Remote-User": "admin", "Remote-User": "admin"},
        {"X-Forwarded-Preferred-Username": "admin", "X-Auth-Request-User": "admin"},
        {"Authorization": "token not-the-token"},
    ],
)
def test_what_a_visitor_sends_never_names_them(servers: Servers, headers: dict[str, str]) -> None:
    a = Visitor(servers.public)
    name = a.whoami()["name"]
    if "Authorization" in headers:  # a wrong token is no credential: still the same visitor
        reply = a.post(call_url(APP), headers=headers)
        assert reply.status_code == 200, reply.text
        assert reply.json()["value"]["name"] == name
        return
    me = a.whoami({"user": "admin"}, headers)
    assert me == {"name": name, "anonymous": True, "via": "http", "sent": "admin"}


#: Everything but a public notebook's own routes: Jupyter's REST API, the status route, a
#: notebook that is served but not public, the public notebook's kernel by id, its MCP
#: endpoint (public_mcp is off).
REFUSED = [
    ("GET", "/api/kernels"),
    ("POST", "/api/kernels"),
    ("GET", "/api/contents"),
    ("GET", f"/api/contents/{APP}"),
    ("PUT", "/api/contents/new.py"),
    ("GET", f"/files/{APP}"),
    ("GET", "/api/sessions"),
    ("POST", "/api/sessions"),
    ("GET", "/api/kernelspecs"),
    ("GET", "/api/config/notebook"),
    ("GET", "/api/me"),
    ("GET", "/api/status"),
    ("GET", "/notebook-actions/api/status"),
    ("POST", call_url(PRIVATE)),
    ("GET", f"/notebook-actions/api/notebooks/{PRIVATE}/actions"),
    ("GET", f"/notebook-actions/api/notebooks/{PRIVATE}/openapi.json"),
    ("GET", f"/notebook-actions/apps/{PRIVATE}"),
    ("POST", "/notebook-actions/api/kernels/{kernel}/actions/whoami"),
    ("GET", "/notebook-actions/api/kernels/{kernel}/actions"),
    ("POST", f"/notebook-actions/mcp/notebooks/{APP}"),
]


@pytest.mark.parametrize(("method", "path"), REFUSED)
def test_a_visitor_reaches_nothing_else(servers: Servers, method: str, path: str) -> None:
    served = servers.public
    path = path.format(kernel=served.status()[APP]["kernels"][0]["id"])
    a = Visitor(served)
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"} if "/mcp/" in path else {}
    reply = a.session.request(
        method,
        Servers.url(served, path),
        json=body if method in {"POST", "PUT"} else None,
        headers={"X-XSRFToken": a.xsrf, "Accept": "application/json, text/event-stream"},
        timeout=60,
        allow_redirects=False,
    )
    if reply.status_code == 302:  # a page: to the login form, as for any browser without the token
        assert "/login" in reply.headers["Location"]
        return
    assert reply.status_code in {401, 403}, (reply.status_code, reply.text[:300])
    assert "token" in reply.text  # says what to send
    assert "Traceback" not in reply.text


def test_the_token_still_reaches_what_visitors_cannot(servers: Servers) -> None:
    served = servers.public
    auth = served.auth
    assert requests.get(Servers.url(served, "/notebook-actions/api/status"), headers=auth, timeout=60).ok
    reply = requests.post(Servers.url(served, call_url(PRIVATE)), json={}, headers=auth, timeout=60)
    assert reply.status_code == 200, reply.text
    assert reply.json()["value"]["anonymous"] is False


def test_a_visitor_still_needs_the_xsrf_token_and_the_same_origin(servers: Servers) -> None:
    a = Visitor(servers.public)
    name = a.whoami()["name"]
    # Another site's page posting with the visitor's cookies: no XSRF token.
    reply = a.session.post(Servers.url(servers.public, call_url(APP)), json={"user": "csrf"}, timeout=60)
    assert reply.status_code == 403
    assert "X-XSRFToken" in reply.json()["message"]
    # ... or with one, from another Origin: jupyter-server refuses it (as a 404).
    reply = a.post(call_url(APP), {"user": "csrf"}, {"Origin": "http://elsewhere.example"})
    assert reply.status_code in {403, 404}, reply.text
    assert a.whoami()["name"] == name


def test_curl_without_a_cookie_jar_is_told_what_to_do(servers: Servers) -> None:
    curl = shutil.which("curl")
    assert curl, "curl is needed (Debian's curl)"
    url = Servers.url(servers.public, call_url(APP))
    out = subprocess.run(
        [curl, "-sS", "-X", "POST", "-H", "Content-Type: application/json", "-d", "{}", "-w", "\n%{http_code}", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    body, status = out.rsplit("\n", 1)
    assert status == "403"
    assert "X-XSRFToken" in json.loads(body)["message"]  # GET the app page first, or send the token
    # With the token, curl needs no cookie at all.
    out = subprocess.run(
        [
            curl,
            "-sS",
            "-X",
            "POST",
            "-H",
            f"Authorization: token {servers.public.token}",
            "-H",
            "Content-Type: application/json",
            "-d",
            "{}",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert json.loads(out)["value"]["anonymous"] is False


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", PAGE),
        ("POST", call_url(APP)),
        ("GET", f"/notebook-actions/api/notebooks/{APP}/actions"),
        ("GET", f"/notebook-actions/api/notebooks/{APP}/openapi.json"),
    ],
)
def test_without_public_the_same_routes_need_the_token(servers: Servers, method: str, path: str) -> None:
    session = requests.Session()
    url = Servers.url(servers.closed, path)
    reply = session.request(method, url, json={} if method == "POST" else None, timeout=60, allow_redirects=False)
    if method == "GET" and path == PAGE:
        assert reply.status_code == 302 and "/login" in reply.headers["Location"]
    else:
        assert reply.status_code in {401, 403}, reply.text
        assert "token" in reply.json()["message"]
    assert VISITOR_COOKIE not in reply.headers.get("Set-Cookie", "")
    assert (
        requests.request(
            method, url, json={} if method == "POST" else None, headers=servers.closed.auth, timeout=60
        ).status_code
        == 200
    )


def test_visitors_get_a_rate_limit_per_address_by_default(servers: Servers) -> None:
    served = servers.defaults
    a, b = Visitor(served), Visitor(served)
    answered = [a.post(call_url(APP)).status_code for _ in range(61)]
    assert answered[:60] == [200] * 60
    assert answered[60] == 429
    refused = b.post(call_url(APP))  # a new cookie costs nothing: the address is what counts
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert "try again in" in refused.json()["message"]
    # The server's own users are not visitors: no limit unless rate_limit says so.
    reply = requests.post(Servers.url(served, call_url(APP)), json={}, headers=served.auth, timeout=60)
    assert reply.status_code == 200, reply.text


def test_generated_requests_from_a_visitor_get_documented_answers(servers: Servers) -> None:
    """test_fuzz_http's schemathesis run, against a public notebook, as an anonymous visitor."""
    served = servers.public
    visitor = Visitor(served)
    document = visitor.get(f"/notebook-actions/api/notebooks/{FUZZ}/openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    base_url = Servers.url(served, "")
    headers = {"X-XSRFToken": visitor.xsrf}
    sent: dict[int, int] = {}

    def call(case: Any) -> Any:
        response = case.call(base_url=base_url, session=visitor.session, headers=headers, timeout=60)
        sent[response.status_code] = sent.get(response.status_code, 0) + 1
        return response

    assert fuzz_every_operation(schema, call, headers)
    assert sent.get(200, 0) > 0, sent  # the visitor's calls got through, not only refusals
    assert not [status for status in sent if status in {401, 403} or (status >= 500 and status != 500)], sent


@pytest.mark.parametrize(
    ("what", "body", "content_type", "status"),
    [
        ("too deep", b"[" * 5000 + b"]" * 5000, "application/json", 400),
        ("not JSON", b"{nope", "application/json", 400),
        ("too large", b'{"n": "' + b"x" * (2 << 20) + b'"}', "application/json", 413),
        ("bad multipart", b"--b\r\nno colon\r\n\r\nx\r\n--b--", "multipart/form-data; boundary=b", 400),
        ("unknown type", b"n=1", "text/x-unknown", 415),
    ],
)
def test_hostile_bodies_from_a_visitor_are_refused_and_harm_no_one(
    servers: Servers, what: str, body: bytes, content_type: str, status: int
) -> None:
    served = servers.public
    attacker, other = Visitor(served), Visitor(served)
    reply = attacker.session.post(
        Servers.url(served, f"/notebook-actions/api/notebooks/{FUZZ}/actions/nothing"),
        data=body,
        headers={"X-XSRFToken": attacker.xsrf, "Content-Type": content_type},
        timeout=60,
    )
    assert reply.status_code == status, (what, reply.text[:300])
    assert "Traceback" not in reply.text
    assert reply.json()["message"]
    assert other.whoami()["anonymous"] is True  # another visitor's call is answered
