"""App pages over HTTP: ``jupyter notebook-actions serve notebooks/todo_app.ipynb --kernels=2``
as a user runs it; the page, its authentication, and calls by the page's action ids that
every kernel of the pool answers, a kernel primed again after a SIGKILL among them."""

from __future__ import annotations

import functools
import html
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e._servers import BIN, NOTEBOOKS, free_port, isolated_env
from tests.server.test_serve import write_notebook
from tests.server.test_serve_cli import Serve, ready

TODO = "notebooks/todo_app.ipynb"
PAGE = f"notebook-actions/apps/{TODO}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def request(
    server: Serve, path: str, *, body: Any = None, token: bool = True, accept: str = "application/json"
) -> tuple[int, dict[str, str], bytes]:
    headers = {"Accept": accept}
    if token:
        headers["Authorization"] = f"token {server.token}"
    data = None
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(urllib.request.Request(server.url + path, data=data, headers=headers), timeout=60) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def not_ready(now: dict[str, Any], kernel_id: str) -> bool:
    return all(k["state"] != "ready" for k in now[TODO]["kernels"] if k["id"] == kernel_id)


def page_config(page: str) -> dict[str, Any]:
    found = re.search(r'<script id="notebook-actions-app" type="application/json">(.*?)</script>', page, re.DOTALL)
    assert found, page[:2000]
    return dict(json.loads(found.group(1)))


#: A small app: a ``Form(add)`` and an ``ActionButton`` (the benchmarks' notebook, scenario 11).
SMALL_APP = Path(__file__).resolve().parents[2] / "benchmarks" / "app_page.ipynb"


def start_serve(
    tmp: Path,
    *notebooks: str,
    kernels: int = 2,
    written: dict[str, list[str]] | None = None,
    options: tuple[str, ...] = (),
) -> Iterator[Serve]:
    """``jupyter notebook-actions serve notebooks/todo_app.ipynb --kernels=2`` (or another
    notebook) in a copy of notebooks/ (with the small app beside them, and ``written``: a
    path's notebook of those code cells; ``options``: more of serve's), until the generator is
    closed; its pool ready."""
    work = tmp / "work"
    shutil.copytree(NOTEBOOKS, work / "notebooks", ignore=shutil.ignore_patterns("*.sqlite3", ".ipynb_checkpoints"))
    shutil.copy(SMALL_APP, work / "notebooks" / SMALL_APP.name)
    for path, sources in (written or {}).items():
        write_notebook(work / path, sources)
    port, token = free_port(), secrets.token_hex(16)
    args = [
        str(BIN / "jupyter"),
        "notebook-actions",
        "serve",
        *(notebooks or (TODO,)),
        f"--kernels={kernels}",
        f"--port={port}",
        "--ip=127.0.0.1",
        "--ServerApp.port_retries=0",
        "--ServerApp.allow_root=True",
        f"--IdentityProvider.token={token}",
        *options,
    ]
    log = tmp / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            args,
            cwd=work,
            env=isolated_env(tmp / "home", {}),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    serve = Serve(process, port, token, log)
    try:
        for notebook in notebooks or (TODO,):
            serve.wait_for(ready(notebook, kernels))
        yield serve
    finally:
        serve.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    yield from start_serve(tmp_path_factory.mktemp("app-page"))


def test_the_page_shows_the_notebook_as_an_app(server: Serve) -> None:
    code, headers, body = request(server, f"?token={server.token}", token=False, accept="text/html")
    assert code == 302
    assert headers["Location"] == f"/{PAGE}?token={server.token}"  # the token comes along: it logs the browser in

    code, headers, body = request(server, PAGE, accept="text/html")
    assert code == 200, body
    assert headers["Content-Type"].startswith("text/html")
    page = body.decode()
    assert "<h1" in page and "A to-do app on SQLite" in page  # markdown, rendered
    assert "sqlite3.connect" not in page and "def todo_list" not in page  # code hidden
    assert "server action(s) registered" not in page  # %%use_server's listing is for the author
    assert "prefers-color-scheme: dark" in page
    # Nothing from outside the server: no script, style or font from another origin.
    assert not re.search(r"""<(?:script|link|img)[^>]+(?:src|href)=["']?(?:https?:)?//""", page)
    assert len(re.findall(r'class="na-app-widget"', page)) == 2  # the Form and the View, live
    config = page_config(page)
    assert config["invoke_url"] == f"/notebook-actions/api/notebooks/{TODO}/inline/"
    assert server.status()[TODO]["app_url"] == f"/{PAGE}"  # one click from JupyterLab
    kinds = sorted("render_action" in m["state"] for m in config["models"].values())
    assert kinds == [False, True]
    assert all(m["_esm"] in config["modules"] for m in config["models"].values())


def test_a_notebook_that_is_not_served_is_a_404_that_says_how_to_serve_it(server: Serve) -> None:
    code, _, body = request(server, "notebook-actions/apps/notebooks/quickstart.ipynb")
    assert code == 404
    message = json.loads(body)["message"]
    assert "jupyter notebook-actions serve notebooks/quickstart.ipynb" in message
    code, headers, body = request(server, "notebook-actions/apps/notebooks/quickstart.ipynb", accept="text/html")
    assert (code, headers["Content-Type"].split(";")[0]) == (404, "text/html")
    assert html.escape("jupyter notebook-actions serve notebooks/quickstart.ipynb") in body.decode()
    unserved = f"notebook-actions/api/notebooks/notebooks/quickstart.ipynb/inline/{'a' * 22}"
    code, _, _ = request(server, unserved, body={})
    assert code == 404


def test_the_page_and_its_calls_need_the_token(server: Serve) -> None:
    code, headers, _ = request(server, PAGE, token=False, accept="text/html")
    assert code in (302, 403)
    assert code == 403 or "/login" in headers["Location"]
    config = page_config(request(server, PAGE, accept="text/html")[2].decode())
    form = next(m for m in config["models"].values() if "render_action" not in m["state"])
    code, _, _ = request(server, config["invoke_url"][1:] + form["state"]["action"]["id"], body={}, token=False)
    assert code == 403


def test_the_pages_ids_reach_every_kernel_of_the_pool_and_a_reprimed_one(server: Serve) -> None:
    config = page_config(request(server, PAGE, accept="text/html")[2].decode())
    form = next(m["state"] for m in config["models"].values() if "render_action" not in m["state"])
    view = next(m["state"] for m in config["models"].values() if "render_action" in m["state"])
    add = config["invoke_url"][1:] + form["action"]["id"]
    render = config["invoke_url"][1:] + view["render_action"]["id"]
    # What the page holds about its actions: ids and schemas, no closure, no bound value.
    assert set(form["action"]) == {"id", "name", "streaming", "doc", "params", "files"}
    assert "list_id" not in json.dumps(config["models"])

    def add_todo(title: str) -> None:
        code, _, body = request(server, add, body={"title": title})
        assert (code, json.loads(body)) == (200, {"value": f"Added {title!r}"})

    add_todo("first")
    first, second = [k["id"] for k in server.status()[TODO]["kernels"]]
    # Each kernel in turn is the only one left to answer: both know the page's ids...
    for doomed, title in ((first, "second"), (second, "third")):
        os.kill(server.kernel_pid(doomed), signal.SIGKILL)
        server.wait_for(functools.partial(not_ready, kernel_id=doomed))
        add_todo(title)
        # ... and so does the kernel primed again after the SIGKILL (the pool's key is the same).
        server.wait_for(ready(TODO, 2), timeout=60)

    code, _, body = request(server, render, body={})
    assert code == 200
    rendered = json.loads(body)["value"]
    assert [t for t in ("first", "second", "third") if f"<span class='todo-title'>{t}</span>" in rendered] == [
        "first",
        "second",
        "third",
    ]
    # Each page load renders the view afresh in a pool kernel, into the page itself (before
    # and without JavaScript), not the prime's snapshot.
    page = request(server, PAGE, accept="text/html")[2].decode()
    view_html = (
        r'<div class="na-app-prerender" data-fresh="true">.*?<template class="na-app-view-html">(.*?)</template>'
    )
    prerender = re.search(view_html, page, re.DOTALL)
    assert prerender, page[:3000]
    assert all(f"<span class='todo-title'>{t}</span>" in prerender.group(1) for t in ("first", "second", "third"))

    code, _, body = request(server, add[: -len(form["action"]["id"])] + "x" * 22, body={"title": "t"})
    assert code == 404
    assert "reload the page" in json.loads(body)["message"]


def test_fifty_page_loads_leave_the_pool_as_it_was(server: Serve) -> None:
    for _ in range(50):
        code, _, _ = request(server, PAGE, accept="text/html")
        assert code == 200
    kernels = server.status()[TODO]["kernels"]
    assert [(k["state"], k["in_flight"]) for k in kernels] == [("ready", 0), ("ready", 0)]


def test_a_form_posted_without_javascript_redirects_back_with_its_errors_and_values(server: Serve) -> None:
    page = request(server, PAGE, accept="text/html")[2].decode()
    action = re.search(r"<form class='na-app-form' method='post' action=\"([^\"]+)\"", page)
    assert action, page[:3000]
    too_long = "x" * 201
    body = urllib.parse.urlencode({"title": too_long, "_xsrf": "ignored with a token"}).encode()
    headers = {"Authorization": f"token {server.token}", "Content-Type": "application/x-www-form-urlencoded"}
    opener = urllib.request.build_opener(_NoRedirect)
    post = urllib.request.Request(server.url + action.group(1).lstrip("/"), data=body, headers=headers)
    with pytest.raises(urllib.error.HTTPError) as answer:
        opener.open(post, timeout=60)
    assert answer.value.code == 303
    assert answer.value.headers["Location"] == f"/{PAGE}"
    cookie = next(
        c for c in answer.value.headers.get_all("Set-Cookie") or [] if c.startswith("notebook_actions_flash=")
    )
    cookie = cookie.split(";")[0]
    answer.value.close()
    back = urllib.request.Request(server.url + PAGE, headers={**headers, "Cookie": cookie, "Accept": "text/html"})
    with opener.open(back, timeout=60) as reply:
        shown = reply.read().decode()
    # The error next to its field, and what the visitor typed, kept.
    field = re.search(r"<div class='na-field' data-field=\"title\">(.*?)</div>", shown, re.DOTALL)
    assert field, shown[:3000]
    assert f'value="{too_long}"' in field.group(1)
    assert "na-field-error" in field.group(1) and "200 characters" in field.group(1)
    assert "Added" not in shown


def test_a_form_post_from_a_logged_in_browser_needs_the_xsrf_token(server: Serve) -> None:
    # Logged in by ?token= (the login cookie), as a browser is: a post without the page's
    # XSRF token (another site's form) is refused, and nothing runs.
    opener = urllib.request.build_opener(_NoRedirect)
    login = urllib.request.Request(server.url + f"{PAGE}?token={server.token}", headers={"Accept": "text/html"})
    with opener.open(login, timeout=60) as reply:
        cookies = "; ".join(c.split(";")[0] for c in reply.headers.get_all("Set-Cookie") or [])
        page = reply.read().decode()
    action = re.search(r"<form class='na-app-form' method='post' action=\"([^\"]+)\"", page)
    assert action
    assert "username-" in cookies  # jupyter-server's login cookie
    forged = urllib.request.Request(
        server.url + action.group(1).lstrip("/"),
        data=urllib.parse.urlencode({"title": "forged"}).encode(),
        headers={"Cookie": cookies, "Content-Type": "application/x-www-form-urlencoded"},
    )
    with pytest.raises(urllib.error.HTTPError) as answer:
        opener.open(forged, timeout=60)
    assert answer.value.code == 403
    answer.value.close()
    rendered = request(server, PAGE, accept="text/html")[2].decode()
    assert "forged" not in rendered


APP = f"notebooks/{SMALL_APP.name}"
CUSTOM = "notebooks/custom_widget.ipynb"


@pytest.fixture(scope="module")
def small_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    yield from start_serve(tmp_path_factory.mktemp("app-page-small"), APP, CUSTOM, kernels=1)


def post_without_javascript(server: Serve, action: str, fields: dict[str, str]) -> tuple[str, str]:
    """A form's post as a browser without JavaScript sends it: where the 303 goes, and the
    page it leads to."""
    headers = {"Authorization": f"token {server.token}", "Content-Type": "application/x-www-form-urlencoded"}
    opener = urllib.request.build_opener(_NoRedirect)
    body = urllib.parse.urlencode(fields).encode()
    post = urllib.request.Request(server.url + html.unescape(action).lstrip("/"), data=body, headers=headers)
    with pytest.raises(urllib.error.HTTPError) as answer:
        opener.open(post, timeout=60)
    assert answer.value.code == 303
    location = answer.value.headers["Location"]
    cookie = next(
        c for c in answer.value.headers.get_all("Set-Cookie") or [] if c.startswith("notebook_actions_flash=")
    )
    answer.value.close()
    back = urllib.request.Request(
        server.url + location.lstrip("/"), headers={**headers, "Cookie": cookie.split(";")[0], "Accept": "text/html"}
    )
    with opener.open(back, timeout=60) as reply:
        return location, reply.read().decode()


def test_an_action_button_without_javascript_is_a_form_of_one_button_that_posts(small_app: Serve) -> None:
    page = request(small_app, f"notebook-actions/apps/{APP}", accept="text/html")[2].decode()
    forms = re.findall(r"<form class='na-app-form' method='post' action=\"([^\"]+)\"(.*?)</form>", page, re.DOTALL)
    button = [(action, body) for action, body in forms if "Send a ping</button>" in body]
    assert len(forms) == 2 and len(button) == 1, page[:3000]
    action, body = button[0]
    assert "na-field" not in body  # its arguments are bound in the kernel: nothing to fill in
    assert "ping" not in re.sub(r"<button[^>]*>Send a ping</button>", "", body)  # nor are they in the page
    location, shown = post_without_javascript(small_app, action, {})
    assert location == f"/notebook-actions/apps/{APP}"
    assert '<pre class="na-result na-app-flash" role="status">ping, pong</pre>' in shown


def test_a_custom_action_widget_without_javascript_says_it_needs_javascript(small_app: Serve) -> None:
    page = request(small_app, f"notebook-actions/apps/{CUSTOM}", accept="text/html")[2].decode()
    assert "This part of the page needs JavaScript." in page
    assert "<form class='na-app-form'" not in page
