"""Authentication, authorization, XSRF and Origin as jupyter-server does them, and no
secret of the kernel in any response."""

from __future__ import annotations

import asyncio
import json
from http.cookies import SimpleCookie
from typing import Any

import pytest
from jupyter_server.auth import Authorizer

from notebook_actions.server.http._handlers import handlers

from .conftest import SECRETS, Kernel, body, invoke, server_test

FORM = "application/x-www-form-urlencoded"


def routes(kernel: Kernel) -> list[tuple[str, tuple[str, ...]]]:
    return [("GET", kernel.url("actions")), ("GET", kernel.url("openapi.json")), ("POST", kernel.url("actions", "add"))]


async def fetch(jp_fetch: Any, method: str, parts: tuple[str, ...], headers: dict[str, str], **kwargs: Any) -> Any:
    if method == "POST":
        kwargs.setdefault("body", json.dumps({"a": 1}))
        headers = {"Content-Type": "application/json", **headers}
    return await jp_fetch(*parts, method=method, headers=headers, raise_error=False, **kwargs)


@server_test
async def test_every_route_needs_authentication(jp_fetch: Any, kernel: Kernel) -> None:
    bridges = kernel.serverapp.web_app.settings["notebook_actions"].bridges
    for method, parts in routes(kernel):
        r = await fetch(jp_fetch, method, parts, {"Authorization": "token wrong"})
        assert r.code == 403, parts
        assert b"Traceback" not in r.body
    assert len(bridges) == 0  # nothing reached the kernel


@pytest.mark.parametrize(
    "jp_server_config",
    [{"ServerApp": {"jpserver_extensions": {"notebook_actions": True}, "allow_unauthenticated_access": False}}],
)
@server_test
async def test_no_auth_warning_when_unauthenticated_access_is_off(
    jp_fetch: Any, kernel: Kernel, jp_serverapp: Any
) -> None:
    # Loading the extension under allow_unauthenticated_access=False raised no
    # JupyterServerAuthWarning (warnings are errors here); and each handler checks out.
    web_app = jp_serverapp.web_app
    assert not web_app.settings["allow_unauthenticated_access"]
    for pattern, handler in handlers(web_app.settings["base_url"]):
        assert web_app._check_handler_auth(pattern, handler) == []
    for method, parts in routes(kernel):
        assert (await fetch(jp_fetch, method, parts, {"Authorization": ""})).code == 403
        assert (await fetch(jp_fetch, method, parts, {})).code == 200


class NoActionWrites(Authorizer):
    """May read everything; may not write (invoke) on the notebook_actions resource."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return not (resource == "notebook_actions" and action == "write")


@pytest.mark.parametrize(
    "jp_server_config",
    [{"ServerApp": {"jpserver_extensions": {"notebook_actions": True}, "authorizer_class": NoActionWrites}}],
)
@server_test
async def test_authorization_uses_the_notebook_actions_resource(jp_fetch: Any, kernel: Kernel) -> None:
    assert (await fetch(jp_fetch, "GET", kernel.url("actions"), {})).code == 200
    r = await fetch(jp_fetch, "POST", kernel.url("actions", "add"), {})
    assert r.code == 403
    assert "notebook_actions" in body(r)["message"]


async def login_cookies(jp_fetch: Any) -> dict[str, str]:
    """The login cookie a token-authenticated request sets, and an _xsrf cookie."""
    cookies: dict[str, str] = {}
    for parts, headers in ((("api", "status"), None), (("login",), {"Authorization": ""})):
        r = await jp_fetch(*parts, headers=headers, raise_error=False)
        for header in r.headers.get_list("Set-Cookie"):
            cookies.update({k: v.value for k, v in SimpleCookie(header).items()})
    assert "_xsrf" in cookies and any(k.startswith("username-") for k in cookies)
    return cookies


def cookie_header(cookies: dict[str, str]) -> str:
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


@server_test
async def test_cookie_authenticated_posts_need_the_xsrf_token(jp_fetch: Any, kernel: Kernel) -> None:
    cookies = await login_cookies(jp_fetch)
    as_browser = {"Authorization": "", "Cookie": cookie_header(cookies)}
    # reading with the cookie is fine
    assert (await fetch(jp_fetch, "GET", kernel.url("actions"), as_browser)).code == 200
    # writing without the token is not
    r = await fetch(jp_fetch, "POST", kernel.url("actions", "add"), as_browser)
    assert r.code == 403
    assert "_xsrf" in body(r)["message"]
    r = await fetch(jp_fetch, "POST", kernel.url("actions", "add"), {**as_browser, "X-XSRFToken": "forged"})
    assert r.code == 403
    # with it, as header or as query parameter (an HTML form's action URL)
    r = await fetch(jp_fetch, "POST", kernel.url("actions", "add"), {**as_browser, "X-XSRFToken": cookies["_xsrf"]})
    assert body(r) == {"value": 3}
    r = await fetch(
        jp_fetch,
        "POST",
        kernel.url("actions", "add"),
        {**as_browser, "Content-Type": FORM},
        body="a=5",
        params={"_xsrf": cookies["_xsrf"]},
    )
    assert body(r) == {"value": 7}
    # a token-authenticated script needs no XSRF token
    assert body(await invoke(jp_fetch, kernel, "add", {"a": 2}))["value"] == 4


@server_test
async def test_a_form_posted_from_another_origin_fails(jp_fetch: Any, kernel: Kernel) -> None:
    cookies = await login_cookies(jp_fetch)
    evil = {
        "Authorization": "",
        "Cookie": cookie_header(cookies),
        "Origin": "http://evil.example",
        "Content-Type": FORM,
    }
    r = await fetch(jp_fetch, "POST", kernel.url("actions", "add"), evil, body="a=1")
    assert r.code in (403, 404)
    # even with a stolen XSRF token: the Origin is checked too
    r = await fetch(
        jp_fetch, "POST", kernel.url("actions", "add"), {**evil, "X-XSRFToken": cookies["_xsrf"]}, body="a=1"
    )
    assert r.code == 404
    r = await fetch(jp_fetch, "GET", kernel.url("actions"), {**evil, "X-XSRFToken": cookies["_xsrf"]})
    assert r.code == 404


@pytest.mark.parametrize(
    "jp_server_config",
    [{"ServerApp": {"jpserver_extensions": {"notebook_actions": True}, "allow_origin": "http://friend.example"}}],
)
@server_test
async def test_allow_origin_admits_a_cross_origin_caller(jp_fetch: Any, kernel: Kernel) -> None:
    cookies = await login_cookies(jp_fetch)
    friend = {
        "Authorization": "",
        "Cookie": cookie_header(cookies),
        "Origin": "http://friend.example",
        "X-XSRFToken": cookies["_xsrf"],
    }
    r = await fetch(jp_fetch, "POST", kernel.url("actions", "add"), friend)
    assert body(r) == {"value": 3}
    assert r.headers["Access-Control-Allow-Origin"] == "http://friend.example"
    r = await fetch(jp_fetch, "POST", kernel.url("actions", "add"), {**friend, "Origin": "http://evil.example"})
    assert r.code == 404
    # the CORS preflight
    r = await jp_fetch(
        *kernel.url("actions", "add"),
        method="OPTIONS",
        raise_error=False,
        headers={"Origin": "http://friend.example", "Access-Control-Request-Method": "POST"},
    )
    assert r.code in (200, 204)
    assert "POST" in r.headers["Access-Control-Allow-Methods"]
    assert r.headers["Access-Control-Allow-Origin"] == "http://friend.example"


async def sse(jp_fetch: Any, kernel: Kernel, name: str, args: dict[str, Any]) -> Any:
    return await invoke(jp_fetch, kernel, name, args, headers={"Accept": "text/event-stream"})


@server_test
async def test_no_kernel_secret_in_any_response(jp_fetch: Any, kernel: Kernel) -> None:
    responses = [
        await jp_fetch(*kernel.url("actions")),
        await jp_fetch(*kernel.url("openapi.json")),
        await invoke(jp_fetch, kernel, "login", {"user": "ann"}),
        await invoke(jp_fetch, kernel, "login", {"user": "ann", "password": "typed-by-caller"}),
        await invoke(jp_fetch, kernel, "login", {}),
        await invoke(jp_fetch, kernel, "login", {"user": ["not", "a", "string"], "password": 3}),
        await invoke(jp_fetch, kernel, "fail", {"why": "x"}),
        await invoke(jp_fetch, kernel, "weird"),
        await invoke(jp_fetch, kernel, "hidden", {"x": 1}),
        await invoke(jp_fetch, kernel, "make_inline"),
        await invoke(jp_fetch, kernel, "nope"),
        await invoke(jp_fetch, kernel, "add", {"a": 1, "API_KEY": 2}),
        await invoke(jp_fetch, kernel, "ticks", {"n": 2}),
        await sse(jp_fetch, kernel, "ticks", {"n": 2}),
        await sse(jp_fetch, kernel, "fail", {}),
        await invoke(jp_fetch, kernel, "strict", {"s": {"n": -1}}),  # user code raising in validation
    ]
    assert [r.code for r in responses] == [
        200,
        200,
        200,
        200,
        422,
        422,
        500,
        500,
        404,
        404,
        404,
        422,
        200,
        200,
        500,
        500,
    ]
    for r in responses:
        text = r.body.decode()
        for secret in SECRETS:
            assert secret not in text, (r.effective_url, text)
        assert "Traceback" not in text
    assert body(responses[-1])["message"] == "the kernel could not run the request (TypeError)"
    listing = body(responses[0])
    login = next(a for a in listing["actions"] if a["name"] == "login")
    assert login["params"]["properties"]["password"] == {
        "format": "password",
        "title": "Password",
        "type": "string",
        "writeOnly": True,
    }


@server_test
async def test_the_traceback_is_in_the_kernel_log_under_the_digest(
    jp_fetch: Any, logged_kernel: tuple[Kernel, Any]
) -> None:
    kernel, log = logged_kernel
    r = await invoke(jp_fetch, kernel, "fail", {"why": "broken"})
    digest = body(r)["digest"]
    for _ in range(50):
        err = log.read_text()
        if digest in err:
            break
        await asyncio.sleep(0.1)
    assert f"action 'fail' raised ValueError (digest {digest})" in err
    assert "Traceback (most recent call last)" in err
    assert "ValueError: broken" in err
