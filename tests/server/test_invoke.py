"""POST .../actions/{name}: every content type, and every status it can answer."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import pytest

from .conftest import Kernel, body, invoke, multipart, server_test

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@server_test
async def test_json_arguments_give_the_value(jp_fetch: Any, kernel: Kernel) -> None:
    r = await invoke(jp_fetch, kernel, "add", {"a": 1, "b": 5})
    assert r.code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert body(r) == {"value": 6}
    r = await invoke(jp_fetch, kernel, "echo", {"text": "ü ☃", "tags": ["x", "y"], "loud": True})
    assert body(r) == {"value": {"text": "ü ☃", "times": 1, "loud": True, "tags": ["x", "y"]}}


@server_test
async def test_urlencoded_form_uses_form_semantics(jp_fetch: Any, kernel: Kernel) -> None:
    form = urllib.parse.urlencode([("text", "ü ☃"), ("times", "3"), ("loud", "on"), ("tags", "x"), ("tags", "y")])
    r = await jp_fetch(*kernel.url("actions", "echo"), method="POST", body=form, headers={**FORM})
    assert body(r) == {"value": {"text": "ü ☃", "times": 3, "loud": True, "tags": ["x", "y"]}}
    # an unticked checkbox sends nothing; an empty number field means "use the default"
    r = await jp_fetch(*kernel.url("actions", "echo"), method="POST", body="text=hi&times=", headers={**FORM})
    assert body(r) == {"value": {"text": "hi", "times": 1, "loud": False, "tags": []}}


@server_test
async def test_an_empty_required_form_field_is_missing_and_a_repeated_one_is_422(jp_fetch: Any, kernel: Kernel) -> None:
    url = kernel.url("actions", "echo")
    missing = {"field": "text", "loc": [], "message": "This field is required.", "type": "missing"}
    # `curl -d text=`: the required text is missing, as an empty form field, not "".
    r = await jp_fetch(*url, method="POST", body="text=&times=2", headers={**FORM}, raise_error=False)
    assert r.code == 422
    assert body(r)["errors"] == [missing]
    data, headers = multipart([("text", ""), ("times", "2")], [])
    r = await jp_fetch(*url, method="POST", body=data, headers=headers, raise_error=False)
    assert r.code == 422
    assert body(r)["errors"] == [missing]
    # JSON's "" is a string like any other.
    r = await invoke(jp_fetch, kernel, "echo", {"text": ""})
    assert body(r) == {"value": {"text": "", "times": 1, "loud": False, "tags": []}}
    # `-d text=a -d text=b` for one text: a 422 naming it, not the last one silently.
    r = await jp_fetch(*url, method="POST", body="text=a&text=b", headers={**FORM}, raise_error=False)
    assert r.code == 422
    [error] = body(r)["errors"]
    assert error["field"] == "text" and error["type"] == "repeated_field"
    assert error["message"] == "'text' was sent 2 times, but takes one value: send it once."


@server_test
async def test_empty_body_calls_without_arguments(jp_fetch: Any, kernel: Kernel) -> None:
    r = await jp_fetch(*kernel.url("actions", "seen"), method="POST", body=b"", allow_nonstandard_methods=True)
    assert body(r) == {"value": {"cancelled": 0, "closed": 0, "napping": 0}}


@server_test
async def test_bytes_result_is_the_body(jp_fetch: Any, kernel: Kernel) -> None:
    r = await invoke(jp_fetch, kernel, "raw", {"n": 3})
    assert r.code == 200
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert r.body == bytes(range(256)) * 3


@server_test
async def test_validation_errors_are_422_per_field(jp_fetch: Any, kernel: Kernel) -> None:
    r = await invoke(jp_fetch, kernel, "add", {"a": "one", "c": 1})
    assert r.code == 422
    errors = {e["field"]: e for e in body(r)["errors"]}
    assert set(errors) == {"a", "c"}
    assert errors["a"]["type"] == "int_parsing"
    assert "Unexpected argument 'c'" in errors["c"]["message"]
    assert "a, c" in body(r)["message"]
    r = await invoke(jp_fetch, kernel, "add", [1, 2])
    assert r.code == 422
    assert body(r)["errors"][0]["field"] == ""
    r = await invoke(jp_fetch, kernel, "add", {})
    assert r.code == 422
    assert body(r)["errors"][0] == {"field": "a", "loc": [], "message": "This field is required.", "type": "missing"}


@server_test
async def test_unknown_kernel_action_and_inline_actions_are_404(jp_fetch: Any, kernel: Kernel) -> None:
    r = await invoke(jp_fetch, kernel, "nope")
    assert r.code == 404
    assert "no exported action 'nope'" in body(r)["message"]
    assert "%%use_server" in body(r)["message"]
    # inline actions ('use server' in a function) are not reachable by name
    r = await invoke(jp_fetch, kernel, "hidden", {"x": 1})
    assert r.code == 404
    other = Kernel(str(uuid.uuid4()), kernel.serverapp, kernel.loop)
    r = await invoke(jp_fetch, other, "add", {"a": 1})
    assert r.code == 404
    assert "no running kernel" in body(r)["message"]
    r = await jp_fetch(*other.url("actions"), raise_error=False)
    assert r.code == 404


@server_test
async def test_kernel_without_the_extension_says_how_to_fix_it(jp_fetch: Any, bare_kernel: Kernel) -> None:
    r = await invoke(jp_fetch, bare_kernel, "add", {"a": 1})
    assert r.code == 404
    assert "%load_ext notebook_actions" in body(r)["message"]
    r = await jp_fetch(*bare_kernel.url("actions"), raise_error=False)
    assert r.code == 404
    assert "%load_ext notebook_actions" in body(r)["message"]
    # once loaded, the same kernel answers
    await bare_kernel.run("%load_ext notebook_actions")
    await bare_kernel.run("%%use_server\ndef ping() -> str:\n    return 'pong'\n")
    r = await invoke(jp_fetch, bare_kernel, "ping")
    assert body(r) == {"value": "pong"}


@server_test
async def test_action_errors_are_500_with_type_and_digest_only(jp_fetch: Any, kernel: Kernel) -> None:
    r = await invoke(jp_fetch, kernel, "fail", {"why": "broken"})
    assert r.code == 500
    data = body(r)
    assert data["type"] == "ValueError"
    assert len(data["digest"]) == 12
    assert data["digest"] in data["message"]
    assert "exception_message" not in data
    assert "broken" not in r.body.decode()
    assert "Traceback" not in r.body.decode()


@pytest.mark.parametrize("notebook_actions_config", [{"expose_exception_messages": True}])
@server_test
async def test_exception_messages_only_when_configured(jp_fetch: Any, kernel: Kernel) -> None:
    r = await invoke(jp_fetch, kernel, "fail", {"why": "broken"})
    assert r.code == 500
    assert body(r)["exception_message"].startswith("broken: ")
    assert "Traceback" not in r.body.decode()


@server_test
async def test_unserializable_result_says_what_to_return(jp_fetch: Any, kernel: Kernel) -> None:
    r = await invoke(jp_fetch, kernel, "weird")
    assert r.code == 500
    assert body(r)["type"] == "UnserializableResult"
    assert "return JSON values" in body(r)["message"]


@server_test
async def test_unsupported_bodies(jp_fetch: Any, kernel: Kernel) -> None:
    r = await invoke(jp_fetch, kernel, "add", body="a=1", headers={"Content-Type": "text/plain"})
    assert r.code == 415
    assert "application/json" in body(r)["message"]
    r = await invoke(jp_fetch, kernel, "add", body="{", headers={})
    assert r.code == 400
    assert "not valid JSON" in body(r)["message"]
    r = await invoke(jp_fetch, kernel, "add", body='{"a": NaN}', headers={})
    assert r.code == 400
    assert "NaN is not JSON" in body(r)["message"]
    # curl -d sends JSON as a form: say so instead of a puzzling validation error
    r = await invoke(jp_fetch, kernel, "add", body='{"a": 1}', headers={**FORM})
    assert r.code == 400
    assert "Content-Type: application/json" in body(r)["message"]
    r = await invoke(jp_fetch, kernel, "add", body=b"\x1f\x8b", headers={"Content-Encoding": "gzip"})
    assert r.code == 415


@pytest.mark.parametrize("notebook_actions_config", [{"max_body_bytes": 1000}])
@server_test
async def test_body_over_the_limit_is_413(jp_fetch: Any, kernel: Kernel) -> None:
    r = await invoke(jp_fetch, kernel, "echo", {"text": "x" * 2000})
    assert r.code == 413
    assert "1000 bytes" in body(r)["message"]
    form = "text=" + "x" * 2000
    r = await jp_fetch(*kernel.url("actions", "echo"), method="POST", body=form, headers={**FORM}, raise_error=False)
    assert r.code == 413
    r = await invoke(jp_fetch, kernel, "echo", {"text": "x" * 900})
    assert r.code == 200


async def raw_request(port: int, head: str, data: bytes = b"", *, read: bool = True) -> tuple[int, bytes]:
    """A request over a bare socket: the status and body of the response."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head.encode("latin-1") + data)
        await writer.drain()
        response = await asyncio.wait_for(reader.read(), 10) if read else b""
    finally:
        writer.close()
    status = int(response.split(b" ", 2)[1]) if response else 0
    return status, response.partition(b"\r\n\r\n")[2]


def head(port: int, path: str, auth: str, *extra: str) -> str:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        f"Authorization: {auth}",
        "Content-Type: application/json",
        "Connection: close",
        *extra,
    ]
    return "\r\n".join(lines) + "\r\n\r\n"


@server_test
async def test_413_comes_before_the_body_is_read(
    jp_fetch: Any, kernel: Kernel, jp_http_port: int, jp_base_url: str, jp_auth_header: dict[str, str]
) -> None:
    path = f"{jp_base_url}notebook-actions/api/kernels/{kernel.id}/actions/echo"
    auth = jp_auth_header["Authorization"]
    # Ten gigabytes announced, none sent: the answer comes at once.
    status, data = await raw_request(jp_http_port, head(jp_http_port, path, auth, "Content-Length: 10000000000"))
    assert status == 413
    assert "larger than the limit" in json.loads(data)["message"]
    # A client that waits for "100 Continue" never has to send the body.
    status, _ = await raw_request(
        jp_http_port, head(jp_http_port, path, auth, "Content-Length: 2000000", "Expect: 100-continue")
    )
    assert status == 413


@server_test
async def test_413_for_a_body_already_on_its_way(
    jp_fetch: Any, kernel: Kernel, jp_http_port: int, jp_base_url: str, jp_auth_header: dict[str, str]
) -> None:
    # A body a little too large, sent without waiting, is dropped as it comes so that the
    # client can read the answer instead of a reset connection.
    r = await invoke(jp_fetch, kernel, "echo", {"text": "x" * 1_500_000})
    assert r.code == 413
    # A chunked body is counted as it arrives.
    path = f"{jp_base_url}notebook-actions/api/kernels/{kernel.id}/actions/echo"
    chunk = b'{"text": "' + b"x" * 70000
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(20)) + b"0\r\n\r\n"
    request = head(jp_http_port, path, jp_auth_header["Authorization"], "Transfer-Encoding: chunked")
    status, data = await raw_request(jp_http_port, request, chunks)
    assert status == 413
    assert "larger than the limit" in json.loads(data)["message"]


@pytest.mark.parametrize("notebook_actions_config", [{"timeout": 1.0}])
@server_test
async def test_timeout_is_504_and_cancels_the_action(jp_fetch: Any, kernel: Kernel) -> None:
    r = await invoke(jp_fetch, kernel, "nap", {"seconds": 30})
    assert r.code == 504
    assert "cancelled" in body(r)["message"]
    for _ in range(50):
        r = await invoke(jp_fetch, kernel, "seen")
        if body(r)["value"]["cancelled"]:
            break
        await asyncio.sleep(0.1)
    assert body(r)["value"]["cancelled"] == 1
    # the bridge still serves
    assert body(await invoke(jp_fetch, kernel, "add", {"a": 1}))["value"] == 3


@pytest.mark.parametrize("notebook_actions_config", [{"timeout": 1.0}])
@pytest.mark.parametrize("bridge_open", [True, False], ids=["bridge-open", "before-the-bridge-opens"])
@server_test
async def test_kernel_busy_past_the_timeout_is_503(
    jp_fetch: Any, kernel: Kernel, bridge_open: bool, tmp_path: Path
) -> None:
    if bridge_open:
        assert (await invoke(jp_fetch, kernel, "add", {"a": 1})).code == 200
    started = tmp_path / "cell-started"
    cell = asyncio.ensure_future(
        kernel.run(f"import pathlib, time; pathlib.Path({str(started)!r}).touch(); time.sleep(3)")
    )
    while not started.exists():  # the cell itself says it has begun
        await asyncio.sleep(0.01)
    r = await invoke(jp_fetch, kernel, "add", {"a": 1})
    assert r.code == 503
    assert "busy" in body(r)["message"]
    await cell
    assert (await invoke(jp_fetch, kernel, "add", {"a": 2})).code == 200


@server_test
async def test_dead_kernel_is_503(jp_fetch: Any, kernel: Kernel) -> None:
    kernel.serverapp.kernel_manager.get_kernel(kernel.id).execution_state = "dead"
    r = await invoke(jp_fetch, kernel, "add", {"a": 1})
    assert r.code == 503
    assert "dead" in body(r)["message"]


@pytest.mark.parametrize(
    "jp_server_config", [{"ServerApp": {"jpserver_extensions": {"notebook_actions": True}, "max_body_size": 2000}}]
)
@server_test
async def test_the_servers_own_body_limit_still_holds(jp_fetch: Any, kernel: Kernel) -> None:
    r = await invoke(jp_fetch, kernel, "echo", {"text": "x" * 5000})
    assert r.code == 413
    assert "2000 bytes" in body(r)["message"]
    assert (await invoke(jp_fetch, kernel, "echo", {"text": "x" * 1000})).code == 200
