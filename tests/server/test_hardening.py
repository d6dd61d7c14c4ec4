"""One client's bad input never hurts another: what cannot travel to the kernel is refused
with a 400 before anything is forwarded, a message that cannot be coded fails its own call
only, refusals keep keep-alive connections usable, and every status is documented."""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import socket
from pathlib import Path
from typing import Any

import pytest
import requests

from notebook_actions.server._body import MAX_JSON_DEPTH, MAX_PARTS
from notebook_actions.server._bridge import KernelGone, Unsendable
from notebook_actions.server._http_replies import problem_for

from .conftest import ACTIONS, JSON, Kernel, body, invoke, multipart, server_test

#: Actions that wait until a test lets them go: requests "in flight" without sleeps.
GATE = """
%%use_server
import asyncio

_gate = {"event": None, "waiting": 0}


async def wait_gate(tag: str) -> str:
    if _gate["event"] is None:
        _gate["event"] = asyncio.Event()
    _gate["waiting"] += 1
    await _gate["event"].wait()
    return tag


def waiting() -> int:
    return _gate["waiting"]


def open_gate() -> bool:
    if _gate["event"] is None:
        _gate["event"] = asyncio.Event()
    _gate["event"].set()
    return True


def anything(value):
    return value


def surrogate(text: str) -> str:
    raise ValueError(text + "\udc80")  # made in the kernel: no client could send it


_flood = {"sent": 0, "closed": False}


async def flood(n: int):
    try:
        for _ in range(n):
            _flood["sent"] += 1
            await asyncio.sleep(0.001)
            yield "x" * 2_000
    finally:
        _flood["closed"] = True


def flooded() -> dict:
    return dict(_flood)
"""


def nested(depth: int) -> str:
    """A JSON array ``depth`` levels deep."""
    return "[" * depth + "]" * depth


def nested_list(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


#: Bodies for ``echo`` that used to get past the server's checks and hurt: (what, body).
HOSTILE_JSON = [
    ("nested 980 levels", '{"text": "x", "tags": ' + nested(980) + "}"),
    ("nested 100000 levels", '{"text": "x", "tags": ' + nested(100_000) + "}"),
    ("a lone surrogate", '{"text": "\\ud800"}'),
    ("a lone surrogate in a key", '{"text": "x", "\\udfff": 1}'),
    ("a float that overflows", '{"text": "x", "times": 1e400}'),
]


def bridges(kernel: Kernel) -> Any:
    return kernel.serverapp.web_app.settings["notebook_actions"].bridges


@pytest.fixture
def gated(kernel: Kernel) -> Kernel:
    kernel.loop.run_until_complete(kernel.run(GATE))
    return kernel


async def post(jp_fetch: Any, kernel: Kernel, name: str, data: str | bytes, headers: dict[str, str]) -> Any:
    return await jp_fetch(
        *kernel.url("actions", name), method="POST", body=data, headers=dict(headers), raise_error=False
    )


# --- 1. a message that cannot be coded fails alone -------------------------------------


@server_test
async def test_an_uncodable_request_fails_alone_and_the_bridge_stays(jp_fetch: Any, kernel: Kernel) -> None:
    assert body(await invoke(jp_fetch, kernel, "add", {"a": 1}))["value"] == 3
    bridge = bridges(kernel).get(kernel.id)
    # Made in one turn of the event loop: they would leave as one batch.
    before = bridge.request({"kind": "invoke", "name": "add", "args": {"a": 1}})
    surrogate = bridge.request({"kind": "invoke", "name": "echo", "args": {"text": "\ud800"}})
    deep = bridge.request({"kind": "invoke", "name": "echo", "args": {"text": "x", "tags": nested_list(980)}})
    after = bridge.request({"kind": "invoke", "name": "add", "args": {"a": 2, "b": 2}})
    assert (await before.reply(30))[0]["value"] == 3
    assert (await after.reply(30))[0]["value"] == 4
    for call, why in ((surrogate, "surrogate"), (deep, "nested")):
        with pytest.raises(Unsendable) as refused:
            await call.reply(30)
        assert problem_for(refused.value).status == 400
        assert why in refused.value.message
    assert bridge.closed is None
    assert bridges(kernel).get(kernel.id) is bridge
    assert bridge.in_flight == 0
    assert not isinstance(bridge.closed, KernelGone)
    assert body(await invoke(jp_fetch, kernel, "add", {"a": 5}))["value"] == 7


# --- 2. refused with a 400 before anything is forwarded --------------------------------


@server_test
async def test_json_that_cannot_travel_is_400_before_it_is_sent(jp_fetch: Any, kernel: Kernel) -> None:
    assert (await invoke(jp_fetch, kernel, "add", {"a": 1})).code == 200
    bridge = bridges(kernel).get(kernel.id)
    sent = bridge.requests_sent
    for what, data in HOSTILE_JSON:
        r = await post(jp_fetch, kernel, "echo", data, JSON)
        assert r.code == 400, (what, r.code, r.body[:200])
        message = body(r)["message"]
        assert "Traceback" not in message
        assert message.startswith("the "), message
    assert bridge.requests_sent == sent  # nothing reached the kernel
    assert bridge.closed is None
    r = await post(jp_fetch, kernel, "echo", '{"text": "\\ud83d\\ude00 ok"}', JSON)  # a surrogate pair is fine
    assert body(r)["value"]["text"] == "\U0001f600 ok"


@server_test
async def test_the_depth_bound_says_what_to_do_and_admits_what_fits(jp_fetch: Any, gated: Kernel) -> None:
    r = await post(jp_fetch, gated, "anything", '{"value": ' + nested(MAX_JSON_DEPTH) + "}", JSON)
    assert r.code == 400
    assert f"more than {MAX_JSON_DEPTH} levels" in body(r)["message"]
    # The deepest value admitted travels to the kernel and back.
    value = nested_list(MAX_JSON_DEPTH - 1)
    r = await post(jp_fetch, gated, "anything", json.dumps({"value": value}), JSON)
    assert r.code == 200, r.body[:300]
    assert body(r)["value"] == value


# --- one client's hostile body, other clients' requests in flight ----------------------


async def until_waiting(jp_fetch: Any, kernel: Kernel, count: int) -> None:
    """Until ``count`` wait_gate calls are running in the kernel (their requests in flight)."""
    for _ in range(400):
        if body(await invoke(jp_fetch, kernel, "waiting"))["value"] >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the gated calls never started")


def hostile_bodies(kernel: Kernel) -> list[tuple[str, str, str | bytes, dict[str, str], int]]:
    """(what, action, body, headers, expected status): one of each kind."""
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    unfinished, parts = multipart([("label", "x")], [("file", "a.bin", "application/octet-stream", b"data")])
    cases: list[tuple[str, str, str | bytes, dict[str, str], int]] = [
        (what, "echo", data, JSON, 400) for what, data in HOSTILE_JSON
    ]
    cases += [
        ("invalid UTF-8", "echo", b'{"text": "\xff"}', JSON, 400),
        ("NaN", "echo", '{"text": "x", "times": NaN}', JSON, 400),
        ("JSON as a form", "echo", '{"text": "x"}', form, 400),
        ("a form field not UTF-8", "echo", b"text=%ff", form, 400),
        ("an unknown content type", "echo", "text", {"Content-Type": "text/plain"}, 415),
        ("a compressed body", "echo", "xx", {**JSON, "Content-Encoding": "gzip"}, 415),
        ("a body over the limit", "echo", json.dumps({"text": "x" * 1_200_000}), JSON, 413),
        ("multipart without its end", "digest", unfinished[:-20], parts, 400),
        ("multipart without a boundary", "digest", unfinished, {"Content-Type": "multipart/form-data"}, 400),
        ("multipart, a part without a name", "digest", _nameless(), parts, 400),
        ("multipart, a file name that is no text", "digest", _surrogate('name="file"; filename*='), parts, 400),
        ("multipart, a field name that is no text", "digest", _surrogate("name*="), parts, 400),
    ]
    return cases


def _surrogate(disposition: str) -> bytes:
    """A part whose name decodes (RFC 2231, any Python codec) to a lone surrogate."""
    boundary = "----notebook-actions-test-7d2c"
    return (
        f"--{boundary}\r\nContent-Disposition: form-data; {disposition}unicode_escape''%5Cud800\r\n\r\n"
        f"x\r\n--{boundary}--\r\n"
    ).encode()


def _nameless() -> bytes:
    boundary = "----notebook-actions-test-7d2c"
    return f"--{boundary}\r\nContent-Disposition: form-data\r\n\r\nx\r\n--{boundary}--\r\n".encode()


@server_test
async def test_a_hostile_body_leaves_other_clients_requests_untouched(jp_fetch: Any, gated: Kernel) -> None:
    kernel = gated
    others = [asyncio.ensure_future(invoke(jp_fetch, kernel, "wait_gate", {"tag": f"client {i}"})) for i in range(3)]
    await until_waiting(jp_fetch, kernel, 3)
    bridge = bridges(kernel).get(kernel.id)
    cases = hostile_bodies(kernel)
    # One at a time, then all at once beside each other.
    for what, name, data, headers, status in cases:
        r = await post(jp_fetch, kernel, name, data, headers)
        assert r.code == status, (what, r.code, r.body[:300])
        assert "Traceback" not in r.body.decode("utf-8", "replace")
    answers = await asyncio.gather(*(post(jp_fetch, kernel, n, d, h) for _, n, d, h, _ in cases))
    assert [r.code for r in answers] == [status for *_, status in cases]
    assert not any(task.done() for task in others)  # still waiting for the gate, unharmed
    assert bridges(kernel).get(kernel.id) is bridge and bridge.closed is None
    assert body(await invoke(jp_fetch, kernel, "open_gate"))["value"] is True
    results = await asyncio.wait_for(asyncio.gather(*others), 30)
    assert [(r.code, body(r)["value"]) for r in results] == [(200, f"client {i}") for i in range(3)]


# --- 4. refusals keep keep-alive connections usable ------------------------------------


def keep_alive_pair(
    port: int, first: tuple[str, str, bytes, dict[str, str]], second: tuple[str, str, bytes, dict[str, str]]
) -> tuple[int, str | None, int]:
    """Two requests on one keep-alive connection (as http.client, requests or a browser
    reuse one): the first's status and Connection header, and the second's status."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        method, path, data, headers = first
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        response.read()
        status, says = response.status, response.getheader("Connection")
        # Told "Connection: close", http.client opens a new connection for the next
        # request; otherwise it sends it on the same one.
        method, path, data, headers = second
        connection.request(method, path, body=data, headers=headers)
        again = connection.getresponse()
        again.read()
        return status, says, again.status
    finally:
        connection.close()


@pytest.mark.parametrize("notebook_actions_config", [{"max_body_bytes": 100_000}])
@server_test
async def test_refusals_before_the_body_is_read_keep_keep_alive_clients_working(
    jp_fetch: Any, kernel: Kernel, jp_http_port: int, jp_base_url: str, jp_auth_header: dict[str, str]
) -> None:
    base = f"{jp_base_url}notebook-actions/api/kernels"
    good = ("POST", f"{base}/{kernel.id}/actions/add", b'{"a": 1}', {**jp_auth_header, **JSON})
    small = json.dumps({"text": "x" * 1000}).encode()
    large = json.dumps({"text": "x" * 90_000}).encode()  # more than tornado reads with the headers
    files, parts = multipart([], [("file", "a.bin", "application/octet-stream", b"x" * 300_000)])
    unknown = f"{base}/00000000-0000-0000-0000-000000000000/actions/add"
    refusals = [
        (403, ("POST", good[1], small, {"Authorization": "token wrong", **JSON})),
        (404, ("POST", unknown, small, {**jp_auth_header, **JSON})),
        (404, ("POST", unknown, large, {**jp_auth_header, **JSON})),
        (404, ("POST", f"{base}/{kernel.id}/actions/nope", files, {**jp_auth_header, **parts})),
        (415, ("POST", good[1], small, {**jp_auth_header, "Content-Type": "text/plain"})),
        (415, ("POST", good[1], large, {**jp_auth_header, **JSON, "Content-Encoding": "br"})),
        (413, ("POST", good[1], json.dumps({"text": "x" * 150_000}).encode(), {**jp_auth_header, **JSON})),
    ]
    for status, request in refusals:
        first, says, second = await asyncio.to_thread(keep_alive_pair, jp_http_port, request, good)
        assert (first, second) == (status, 200), (request[1], request[3], says)
    # A requests.Session, as the clients do, in a row on one pool.
    url = f"http://127.0.0.1:{jp_http_port}"

    def session_run() -> list[int]:
        with requests.Session() as session:
            codes = []
            for status, (method, path, data, headers) in refusals:
                codes.append(session.request(method, url + path, data=data, headers=headers, timeout=30).status_code)
                codes.append(session.post(url + good[1], data=good[2], headers=good[3], timeout=30).status_code)
                assert codes[-2:] == [status, 200]
            return codes

    assert len(await asyncio.to_thread(session_run)) == 2 * len(refusals)


# --- 5. every status is documented -------------------------------------------------------

#: Every status an action's route can answer.
STATUSES = {"200", "400", "403", "404", "413", "415", "422", "429", "500", "502", "503", "504"}


@server_test
async def test_every_status_is_in_the_openapi_document_and_the_docs(jp_fetch: Any, kernel: Kernel) -> None:
    document = body(await jp_fetch(*kernel.url("openapi.json")))
    for path, item in document["paths"].items():
        assert set(item["post"]["responses"]) == STATUSES, path
    documented = set(document["components"]["responses"])
    assert documented == STATUSES - {"200"}
    # each error body is described, with the message field every error body has
    for status in documented:
        content = document["components"]["responses"][status]["content"]["application/json"]
        assert content["schema"]["$ref"].startswith("#/components/schemas/")
    http_md = (Path(__file__).parents[2] / "docs" / "http.md").read_text()
    table = http_md.split("### Statuses", 1)[1].split("###", 1)[0]
    assert set(re.findall(r"^\| (\d{3}) \|", table, re.MULTILINE)) == STATUSES - {"200"}


# --- a stream's client that stops reading ----------------------------------------------


@pytest.mark.parametrize("notebook_actions_config", [{"timeout": 2.0}])
@server_test
async def test_a_stream_client_that_stops_reading_is_cut_off(
    jp_fetch: Any, gated: Kernel, jp_http_port: int, jp_base_url: str, jp_auth_header: dict[str, str]
) -> None:
    kernel = gated
    chunks = 20_000  # 40 MB of events over 20 s or more: far more than the sockets between us hold
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", jp_http_port))
    data = json.dumps({"n": chunks}).encode()
    path = f"{jp_base_url}notebook-actions/api/kernels/{kernel.id}/actions/flood"
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {jp_auth_header['Authorization']}\r\n"
        f"Content-Type: application/json\r\nAccept: text/event-stream\r\nContent-Length: {len(data)}\r\n\r\n"
    ).encode() + data
    try:
        await asyncio.get_running_loop().sock_sendall(sock, request)
        first = await asyncio.wait_for(asyncio.get_running_loop().sock_recv(sock, 1024), 30)
        assert first.startswith(b"HTTP/1.1 200"), first
        # ...and reads no more, the connection left open.
        for _ in range(600):
            state = body(await invoke(jp_fetch, kernel, "flooded"))["value"]
            if state["closed"]:
                break
            await asyncio.sleep(0.05)
        assert state["closed"], state  # the server gave up on the client: the generator stopped
        assert state["sent"] < chunks, state  # before it made everything, into the server's memory
        # other clients, and the same kernel, are fine
        assert body(await invoke(jp_fetch, kernel, "add", {"a": 1}))["value"] == 3
    finally:
        sock.close()


# --- multipart bodies of very many parts -----------------------------------------------


@server_test
async def test_multipart_part_counts_are_bounded(jp_fetch: Any, kernel: Kernel) -> None:
    def files(count: int) -> list[tuple[str, str, str, bytes]]:
        return [("files", f"f{i}.txt", "text/plain", b"x") for i in range(count)]

    data, headers = multipart([], files(MAX_PARTS))
    r = await post(jp_fetch, kernel, "digests", data, headers)
    assert r.code == 200, r.body[:300]
    assert len(body(r)["value"]) == MAX_PARTS
    data, headers = multipart([], files(MAX_PARTS + 1))
    r = await post(jp_fetch, kernel, "digests", data, headers)
    assert r.code == 413
    assert f"more than {MAX_PARTS} files" in body(r)["message"]
    data, headers = multipart([("label", "")] * (MAX_PARTS + 1), [("file", "a.txt", "text/plain", b"x")])
    r = await post(jp_fetch, kernel, "digest", data, headers)
    assert r.code == 413
    assert f"more than {MAX_PARTS} fields" in body(r)["message"]
    assert body(await invoke(jp_fetch, kernel, "add", {"a": 1}))["value"] == 3


# --- a kernel restarting in a loop ------------------------------------------------------


@server_test
async def test_a_kernel_restarting_in_a_loop_answers_everyone_and_leaks_nothing(jp_fetch: Any, kernel: Kernel) -> None:
    manager = kernel.serverapp.kernel_manager.get_kernel(kernel.id)

    def ours() -> int:
        restarter = getattr(manager, "_restarter", None)
        callbacks = getattr(restarter, "callbacks", {}) or {}
        return sum(1 for fs in callbacks.values() for f in fs if getattr(f, "__module__", "").startswith("notebook"))

    for _ in range(4):
        await kernel.run("%load_ext notebook_actions")
        await kernel.run(ACTIONS)
        waiting = [asyncio.ensure_future(invoke(jp_fetch, kernel, "nap", {"seconds": 60})) for _ in range(3)]
        bridge = bridges(kernel).get(kernel.id)
        for _ in range(200):
            if bridge.in_flight == 3 and all(call.started for call in bridge._calls.values()):
                break
            await asyncio.sleep(0.02)
        assert ours() == 2  # the bridge's restart and dead callbacks
        await jp_fetch("api", "kernels", kernel.id, "restart", method="POST", body="")
        answers = await asyncio.wait_for(asyncio.gather(*waiting), 30)
        assert [r.code for r in answers] == [503] * 3
        assert ours() <= 2  # none left over from the bridges before
    r = await invoke(jp_fetch, kernel, "add", {"a": 1})
    assert r.code == 404 and "%load_ext notebook_actions" in body(r)["message"]
    assert len(bridges(kernel)) <= 1


# --- headers and query strings -------------------------------------------------------------


@server_test
async def test_oversized_headers_and_queries_are_refused_without_harm(
    jp_fetch: Any, kernel: Kernel, jp_http_port: int, jp_base_url: str, jp_auth_header: dict[str, str]
) -> None:
    path = f"{jp_base_url}notebook-actions/api/kernels/{kernel.id}/actions/add"
    data = b'{"a": 1}'

    async def raw(target: str, *extra: str) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", jp_http_port)
        lines = [
            f"POST {target} HTTP/1.1",
            "Host: 127.0.0.1",
            f"Authorization: {jp_auth_header['Authorization']}",
            "Content-Type: application/json",
            f"Content-Length: {len(data)}",
            *extra,
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + data)
        try:
            return await asyncio.wait_for(reader.read(), 30)
        finally:
            writer.close()

    # within tornado's 64 KiB for the request line and headers: answered as usual
    assert (await raw(path + "?pad=" + "x" * 30_000, "X-Pad: " + "y" * 20_000, "Connection: close")).startswith(
        b"HTTP/1.1 200"
    )
    # past it: tornado closes the connection without an answer, and nothing else changes
    assert await raw(path, "X-Pad: " + "y" * 70_000) == b""
    assert await raw(path + "?pad=" + "x" * 70_000) == b""
    assert body(await invoke(jp_fetch, kernel, "add", {"a": 1}))["value"] == 3


# --- a flood of cancels -------------------------------------------------------------------


@server_test
async def test_a_flood_of_abandoned_requests_leaves_others_alone(
    jp_fetch: Any, gated: Kernel, jp_http_port: int, jp_base_url: str, jp_auth_header: dict[str, str]
) -> None:
    kernel = gated
    other = asyncio.ensure_future(invoke(jp_fetch, kernel, "wait_gate", {"tag": "other"}))
    await until_waiting(jp_fetch, kernel, 1)
    bridge = bridges(kernel).get(kernel.id)
    path = f"{jp_base_url}notebook-actions/api/kernels/{kernel.id}/actions/nap"
    data = json.dumps({"seconds": 60}).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {jp_auth_header['Authorization']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    ).encode()
    writers = []
    for _ in range(100):
        _, writer = await asyncio.open_connection("127.0.0.1", jp_http_port)
        writer.write(head + data)
        writers.append(writer)
    for _ in range(400):  # until every one is in flight...
        if bridge.in_flight >= 101:
            break
        await asyncio.sleep(0.05)
    for writer in writers:  # ...then every client leaves: a cancel each
        writer.close()
    for _ in range(400):
        if bridge.in_flight == 1:
            break
        await asyncio.sleep(0.05)
    assert bridge.in_flight == 1  # only the other client's call
    assert bridge.closed is None and not other.done()
    assert body(await invoke(jp_fetch, kernel, "open_gate"))["value"] is True
    r = await asyncio.wait_for(other, 30)
    assert (r.code, body(r)["value"]) == (200, "other")


# --- a reply with text that is not valid Unicode -----------------------------------------


@pytest.mark.parametrize("notebook_actions_config", [{"timeout": 5.0}])
@server_test
async def test_a_reply_holding_a_lone_surrogate_loses_no_reply(jp_fetch: Any, gated: Kernel) -> None:
    # The kernel's side replaces it (U+FFFD) before it travels: a regression guard, since
    # a reply the bridge cannot read would be dropped with every other reply of its batch.
    kernel = gated
    assert body(await invoke(jp_fetch, kernel, "add", {"a": 1}))["value"] == 3
    bridge = bridges(kernel).get(kernel.id)
    # in one batch: the replies may come back in one message too
    odd = bridge.request({"kind": "invoke", "name": "surrogate", "args": {"text": "x"}})
    plain = bridge.request({"kind": "invoke", "name": "add", "args": {"a": 2}})
    assert (await plain.reply(10))[0]["value"] == 4
    error = (await odd.reply(10))[0]
    assert (error["kind"], error["type"], error["message"]) == ("error", "ValueError", "x\ufffd")
    r = await invoke(jp_fetch, kernel, "surrogate", {"text": "y"})
    assert r.code == 500 and body(r)["type"] == "ValueError"
