"""multipart/form-data: fields and files; large files flow to the kernel in chunks."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from .conftest import Kernel, body, invoke, multipart, server_test

MB = 1 << 20


async def post(jp_fetch: Any, kernel: Kernel, name: str, data: bytes, headers: dict[str, str], **kwargs: Any) -> Any:
    return await jp_fetch(
        *kernel.url("actions", name), method="POST", body=data, headers=dict(headers), raise_error=False, **kwargs
    )


def bridges(kernel: Kernel) -> Any:
    return kernel.serverapp.web_app.settings["notebook_actions"].bridges


async def files_held(kernel: Kernel) -> int:
    """How many uploaded files the kernel holds open (in its upload store, or given to an action)."""
    outputs = await kernel.run(
        "import gc\nfrom notebook_actions import UploadedFile\n"
        "print(sum(isinstance(o, UploadedFile) and not o.file.closed for o in gc.get_objects()))"
    )
    return int("".join(output.get("text", "") for output in outputs if output.get("name") == "stdout"))


async def until_no_files_held(kernel: Kernel) -> int:
    for _ in range(100):  # the kernel handles the cancel on its own time
        held = await files_held(kernel)
        if not held:
            break
        await asyncio.sleep(0.05)
    return held


@server_test
async def test_a_file_and_a_field(jp_fetch: Any, kernel: Kernel) -> None:
    data = os.urandom(5000)
    payload, headers = multipart([("label", "ünïcode")], [("file", "résumé ☃.pdf", "application/pdf", data)])
    r = await post(jp_fetch, kernel, "digest", payload, headers)
    assert r.code == 200, r.body
    assert body(r)["value"] == {
        "name": "résumé ☃.pdf",
        "content_type": "application/pdf",
        "size": 5000,
        "sha256": hashlib.sha256(data).hexdigest(),
        "label": "ünïcode",
    }


@server_test
async def test_several_files_in_one_field(jp_fetch: Any, kernel: Kernel) -> None:
    files = [("files", f"f{i}.bin", "application/octet-stream", os.urandom(100 * i)) for i in range(3)]
    payload, headers = multipart([], files)
    r = await post(jp_fetch, kernel, "digests", payload, headers)
    assert [(d["name"], d["size"]) for d in body(r)["value"]] == [("f0.bin", 0), ("f1.bin", 100), ("f2.bin", 200)]


@server_test
async def test_two_files_for_a_parameter_that_takes_one_are_422(jp_fetch: Any, kernel: Kernel) -> None:
    files = [("file", f"f{i}.bin", "application/octet-stream", os.urandom(10)) for i in range(2)]
    payload, headers = multipart([], files)
    r = await post(jp_fetch, kernel, "digest", payload, headers)
    assert r.code == 422, r.body
    [error] = body(r)["errors"]
    assert error["field"] == "file"
    assert "takes one file, but 2 were sent" in error["message"]


@server_test
async def test_a_file_input_left_empty_counts_as_absent(jp_fetch: Any, kernel: Kernel) -> None:
    payload, headers = multipart([("label", "x")], [("file", "", "application/octet-stream", b"")])
    r = await post(jp_fetch, kernel, "digest", payload, headers)
    assert r.code == 422
    assert body(r)["errors"][0]["field"] == "file"
    # plain fields work through multipart too (form semantics)
    payload, headers = multipart([("text", "hi"), ("times", "2"), ("tags", "a"), ("tags", "b")], [])
    r = await post(jp_fetch, kernel, "echo", payload, headers)
    assert body(r)["value"] == {"text": "hi", "times": 2, "loud": False, "tags": ["a", "b"]}


@pytest.mark.parametrize("notebook_actions_config", [{"upload_chunk_bytes": 64 * 1024}])
@server_test
async def test_files_larger_than_a_chunk_travel_in_chunks(jp_fetch: Any, kernel: Kernel) -> None:
    big, small = os.urandom(MB + 123), os.urandom(1000)
    payload, headers = multipart([("label", "l")], [("file", "big.bin", "application/x-big", big)])
    r = await post(jp_fetch, kernel, "digest", payload, headers)
    assert body(r)["value"]["sha256"] == hashlib.sha256(big).hexdigest()
    assert body(r)["value"]["content_type"] == "application/x-big"
    files = [("files", "a", "x/y", big), ("files", "b", "x/y", small), ("files", "c", "x/y", big[:70000])]
    payload, headers = multipart([], files)
    r = await post(jp_fetch, kernel, "digests", payload, headers)
    assert [d["sha256"] for d in body(r)["value"]] == [hashlib.sha256(f[3]).hexdigest() for f in files]


def rss(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(field)


@server_test
async def test_a_50_mb_upload_costs_the_kernel_little_memory(jp_fetch: Any, kernel: Kernel) -> None:
    data = os.urandom(50 * 1000 * 1000)
    payload, headers = multipart([], [("file", "big.bin", "application/octet-stream", data)])
    assert body(await post(jp_fetch, kernel, "add", b'{"a": 1}', {"Content-Type": "application/json"}))
    pid = kernel.serverapp.kernel_manager.get_kernel(kernel.id).provisioner.pid
    before = rss(pid, "VmRSS")
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset the peak (VmHWM) to now
    r = await post(jp_fetch, kernel, "checksum", payload, headers, request_timeout=120)
    assert body(r)["value"] == {"name": "big.bin", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    growth = rss(pid, "VmHWM") - before
    assert growth < 3 * len(data)  # the bound we promise
    assert growth < len(data) // 2, growth  # what chunked uploads give: a few chunks


@pytest.mark.parametrize("notebook_actions_config", [{"max_upload_bytes": 100_000}])
@server_test
async def test_uploads_over_the_limit_are_413(jp_fetch: Any, kernel: Kernel) -> None:
    payload, headers = multipart([], [("file", "big.bin", "application/octet-stream", os.urandom(200_000))])
    r = await post(jp_fetch, kernel, "digest", payload, headers)
    assert r.code == 413
    assert "100000 bytes" in body(r)["message"]


@server_test
async def test_multipart_to_an_unknown_action_is_404_before_the_upload(jp_fetch: Any, kernel: Kernel) -> None:
    payload, headers = multipart([], [("file", "a.bin", "application/octet-stream", b"x" * 1000)])
    r = await post(jp_fetch, kernel, "nope", payload, headers)
    assert r.code == 404
    assert "no exported action 'nope'" in body(r)["message"]


@server_test
async def test_malformed_multipart_is_400(jp_fetch: Any, kernel: Kernel) -> None:
    payload, headers = multipart([("label", "x")], [])
    r = await post(jp_fetch, kernel, "echo", payload[:-10], headers)
    assert r.code == 400
    assert "closing boundary" in body(r)["message"]
    r = await post(jp_fetch, kernel, "echo", payload, {"Content-Type": "multipart/form-data"})
    assert r.code == 400
    assert "boundary" in body(r)["message"]
    bad = b'--b\r\nContent-Disposition: attachment; name="x"\r\n\r\n1\r\n--b--\r\n'
    r = await post(jp_fetch, kernel, "echo", bad, {"Content-Type": "multipart/form-data; boundary=b"})
    assert r.code == 400
    assert "form-data" in body(r)["message"]


@pytest.mark.parametrize("notebook_actions_config", [{"upload_chunk_bytes": 64 * 1024}])
@server_test
async def test_an_abandoned_upload_is_dropped_in_the_kernel(jp_fetch: Any, kernel: Kernel) -> None:
    payload, headers = multipart([], [("file", "big.bin", "application/octet-stream", os.urandom(300_000))])
    assert (await post(jp_fetch, kernel, "digest", payload, headers)).code == 200
    first = bridges(kernel).get(kernel.id)
    r = await post(jp_fetch, kernel, "digest", payload[:-10], headers)  # the body ends too soon
    assert r.code == 400
    # The chunks already sent are dropped in the kernel at once, with the upload's cancel;
    # the bridge goes on serving.
    assert await until_no_files_held(kernel) == 0
    assert first.closed is None
    assert bridges(kernel).get(kernel.id) is first
    r = await post(jp_fetch, kernel, "digest", payload, headers)
    assert r.code == 200
    assert body(r)["value"]["size"] == 300_000


@server_test
async def test_concurrent_uploads_keep_their_own_files(jp_fetch: Any, kernel: Kernel) -> None:
    # Files small enough to ride along with their invocations: requests in flight together
    # share comm messages, and each one's buffers must stay its own.
    datas = [os.urandom(1000 + i) for i in range(20)]
    bodies = [
        multipart([("label", str(i))], [("file", f"{i}.bin", "application/octet-stream", d)])
        for i, d in enumerate(datas)
    ]
    results = await asyncio.gather(*(post(jp_fetch, kernel, "digest", b, h) for b, h in bodies))
    for i, r in enumerate(results):
        assert body(r)["value"]["sha256"] == hashlib.sha256(datas[i]).hexdigest()
        assert body(r)["value"]["label"] == str(i)
    bridge = bridges(kernel).get(kernel.id)
    assert bridge.messages_sent < bridge.requests_sent  # some did share a message


@pytest.mark.parametrize("notebook_actions_config", [{"upload_chunk_bytes": 64 * 1024}])
@server_test
async def test_a_client_that_leaves_mid_upload(
    jp_fetch: Any, kernel: Kernel, jp_http_port: int, jp_base_url: str, jp_auth_header: dict[str, str]
) -> None:
    payload, headers = multipart([], [("file", "big.bin", "application/octet-stream", os.urandom(2 * MB))])
    assert (await post(jp_fetch, kernel, "digest", payload, headers)).code == 200
    first = bridges(kernel).get(kernel.id)
    # Another call runs on the same bridge all along.
    napping = asyncio.ensure_future(invoke(jp_fetch, kernel, "nap", {"seconds": 3}))
    reader, writer = await asyncio.open_connection("127.0.0.1", jp_http_port)
    path = f"{jp_base_url}notebook-actions/api/kernels/{kernel.id}/actions/digest"
    writer.write(
        (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {jp_auth_header['Authorization']}\r\n"
            f"Content-Type: {headers['Content-Type']}\r\nContent-Length: {len(payload)}\r\n\r\n"
        ).encode()
    )
    writer.write(payload[:MB])
    await writer.drain()
    for _ in range(100):  # until chunks reached the kernel
        if await files_held(kernel):
            break
        await asyncio.sleep(0.05)
    assert await files_held(kernel) == 1
    writer.close()
    # The kernel drops the half upload at once, while the nap goes on on the same bridge.
    assert await until_no_files_held(kernel) == 0
    assert not napping.done()
    assert first.closed is None
    napped = await napping
    assert napped.code == 200 and body(napped)["value"] == 3
    assert bridges(kernel).get(kernel.id) is first
    r = await post(jp_fetch, kernel, "digest", payload, headers)
    assert body(r)["value"]["size"] == 2 * MB
    del reader
