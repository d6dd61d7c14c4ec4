"""The incremental multipart parser gives what tornado's whole-body parser gives, however
the body is cut into pieces."""

from __future__ import annotations

import random

import pytest
from tornado.httputil import HTTPFile, parse_multipart_form_data

from notebook_actions.server.http._multipart import MultipartError, MultipartParser, PartData, PartEnd, PartStart

Part = tuple[str, str | None, str, bytes]


def parse(body: bytes, boundary: bytes, sizes: list[int]) -> list[Part]:
    parser = MultipartParser(boundary)
    events = []
    position = 0
    for size in sizes:
        events += parser.feed(body[position : position + size])
        position += size
    events += parser.feed(body[position:])
    parser.close()
    parts: list[Part] = []
    current: list[bytes] = []
    for event in events:
        if isinstance(event, PartStart):
            start = event
            current = []
        elif isinstance(event, PartData):
            current.append(event.data)
        elif isinstance(event, PartEnd):
            parts.append((start.name, start.filename, start.content_type, b"".join(current)))
    return parts


def tornado_parts(body: bytes, boundary: bytes) -> tuple[dict[str, list[bytes]], dict[str, list[HTTPFile]]]:
    arguments: dict[str, list[bytes]] = {}
    files: dict[str, list[HTTPFile]] = {}
    parse_multipart_form_data(boundary, body, arguments, files)
    return arguments, files


def random_body(rng: random.Random, boundary: bytes, *, tricky: bool) -> tuple[bytes, list[Part]]:
    """Random parts; ``tricky`` data comes close to the delimiter (CRLF--boundary) without
    being it: tornado's parser (it splits on "--boundary" anywhere) cannot take those."""
    parts: list[Part] = []
    out = bytearray()
    for index in range(rng.randint(0, 5)):
        pieces = [rng.randbytes(rng.randint(0, 300)), b"\r\n-", boundary[:-1], b"\r\n"]
        if tricky:
            pieces += [b"\r\n--", b"--" + boundary + b"x", b"\r\n--" + boundary[:-1]]
        data = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 6)))
        while (b"\r\n--" + boundary) in data or (not tricky and b"--" + boundary in data):
            data = data.replace(b"\r\n--" + boundary, b"").replace(b"--" + boundary, b"")
        name = f"field{index}"
        if rng.random() < 0.5:
            filename, content_type = f"file {index}.bin", "application/x-test"
            head = (
                f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\nContent-Type: {content_type}'
            )
            parts.append((name, filename, content_type, data))
        else:
            head = f'Content-Disposition: form-data; name="{name}"'
            parts.append((name, None, "", data))
        out += b"--" + boundary + b"\r\n" + head.encode() + b"\r\n\r\n" + data + b"\r\n"
    out += b"--" + boundary + b"--\r\n"
    if rng.random() < 0.3:
        out += b"epilogue, ignored"
    return bytes(out), parts


@pytest.mark.parametrize("seed", range(40))
def test_same_parts_as_tornado_for_any_split(seed: int) -> None:
    rng = random.Random(seed)
    boundary = rng.choice([b"b", b"----WebKitFormBoundary7MA4YWxkTrZu0gW", b"x" * 70])
    body, expected = random_body(rng, boundary, tricky=False)
    arguments, files = tornado_parts(body, boundary)
    assert arguments == {name: [data] for name, filename, _, data in expected if filename is None}
    assert [(f.filename, f.content_type, f.body) for values in files.values() for f in values] == [
        (filename, content_type, data) for _, filename, content_type, data in expected if filename is not None
    ]
    for _ in range(5):
        sizes = [rng.randint(1, 64) for _ in range(rng.randint(0, 200))]
        assert parse(body, boundary, sizes) == expected
    assert parse(body, boundary, [1] * len(body)) == expected


@pytest.mark.parametrize("seed", range(40))
def test_data_close_to_the_delimiter_for_any_split(seed: int) -> None:
    rng = random.Random(1000 + seed)
    boundary = rng.choice([b"b", b"----WebKitFormBoundary7MA4YWxkTrZu0gW"])
    body, expected = random_body(rng, boundary, tricky=True)
    for _ in range(5):
        sizes = [rng.randint(1, 64) for _ in range(rng.randint(0, 200))]
        assert parse(body, boundary, sizes) == expected


def test_a_file_without_content_type() -> None:
    body = b'--b\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n\r\nhi\r\n--b--'
    assert parse(body, b"b", []) == [("f", "a.txt", "application/octet-stream", b"hi")]


def test_encoded_names() -> None:
    head = "Content-Disposition: form-data; name*=UTF-8''%C3%A9t%C3%A9; filename*=UTF-8''%E2%82%AC.txt"
    body = b"--b\r\n" + head.encode() + b"\r\n\r\nx\r\n--b--\r\n"
    assert parse(body, b"b", []) == [("été", "€.txt", "application/octet-stream", b"x")]
    raw = 'Content-Disposition: form-data; name="f"; filename="naïve ☃.txt"'.encode()
    assert parse(b"--b\r\n" + raw + b"\r\n\r\nx\r\n--b--\r\n", b"b", []) == [
        ("f", "naïve ☃.txt", "application/octet-stream", b"x")
    ]


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (b'--b\r\nContent-Disposition: form-data; name="f"\r\n\r\nhi', "closing boundary"),
        (b"no boundary at all", "malformed multipart body"),
        # RFC 2046 allows a preamble and padding after a boundary; no client sends them, and
        # python-multipart (Starlette's parser) refuses them, as Starlette's apps do.
        (b'preamble\r\n--b\r\nContent-Disposition: form-data; name="f"\r\n\r\nhi\r\n--b--', "malformed"),
        (b'--b  \r\nContent-Disposition: form-data; name="f"\r\n\r\nhi\r\n--b--', "malformed"),
        (b'--b\r\nContent-Disposition: attachment; name="f"\r\n\r\nhi\r\n--b--', "form-data"),
        (b"--b\r\nContent-Disposition: form-data\r\n\r\nhi\r\n--b--", "no field name"),
        (b"--b\r\nno colon here\r\n\r\nhi\r\n--b--", "malformed"),
        (b"--b junk\r\n", "malformed"),
        (b"--b\r\n" + b"X-Long: " + b"x" * 20000, "header size"),
        (b"--b\r\n" + b"X-A: 1\r\n" * 17 + b"\r\nhi\r\n--b--", "header count"),
        (b'--b\r\nContent-Disposition: form-data; name="\xff"\r\n\r\n\r\n--b--', "not UTF-8"),
    ],
)
def test_malformed_bodies(body: bytes, complaint: str) -> None:
    with pytest.raises(MultipartError, match=complaint):
        parse(body, b"b", [7] * (len(body) // 7))


def test_bad_boundaries() -> None:
    for boundary in (b"", b"x" * 201):
        with pytest.raises(MultipartError, match="boundary"):
            MultipartParser(boundary)
