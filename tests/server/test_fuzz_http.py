"""Schemathesis against the live OpenAPI document of a real server and kernel whose actions
take every supported parameter type: generated requests, schema-valid and not, each
answered with a status and a body the document declares, never a server error."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .conftest import Kernel, start_kernel, stop_kernel

#: One action per kind of parameter the README lists (and the kinds of result).
FUZZ_ACTIONS = """
%%use_server
import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Annotated, Literal, Optional

from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from notebook_actions import Progress, Secret, UploadedFile


class Color(Enum):
    RED = "red"
    GREEN = "green"


class Address(TypedDict):
    street: str
    number: int


@dataclass
class Point:
    x: int
    y: int


class Item(BaseModel):
    name: str
    price: Annotated[float, Field(ge=0)]
    tags: list[str] = []


def scalars(text: str, count: int, ratio: float, flag: bool, amount: Decimal) -> dict:
    return {"text": text, "count": count, "ratio": ratio, "flag": flag, "amount": str(amount)}


def moments(day: dt.date, at: dt.datetime, clock: dt.time) -> str:
    return f"{day.isoformat()} {at.isoformat()} {clock.isoformat()}"


def choices(color: Color, mode: Literal["fast", "slow"], tags: set[str], numbers: list[int]) -> dict:
    return {"color": color.value, "mode": mode, "tags": sorted(tags), "numbers": numbers}


def shapes(point: Point, item: Item, address: Address, extra: dict, maybe: Optional[int] = None) -> Point:
    return Point(point.x + (maybe or 0), point.y)


def bounded(
    n: Annotated[int, Field(ge=1, le=10)], name: Annotated[str, Field(min_length=1, max_length=5)] = "x"
) -> int:
    return n * len(name)


def untyped(value, other=None):
    return value


def login(user: str, password: Annotated[str, Secret] = "default") -> str:
    return f"hello {user}"


def upload(file: UploadedFile, note: str = "") -> dict:
    return {"name": file.name, "size": len(file.read()), "note": note}


def uploads(files: list[UploadedFile]) -> int:
    return sum(len(f.read()) for f in files)


def stream(n: Annotated[int, Field(ge=0, le=5)]) -> Iterator[int]:
    yield Progress(0, n, "start")
    yield from range(n)


async def ticks(n: Annotated[int, Field(ge=0, le=5)]) -> AsyncIterator[str]:
    for i in range(n):
        await asyncio.sleep(0)
        yield f"tick {i}"


async def later(n: int) -> int:
    await asyncio.sleep(0)
    return n


def raw(n: Annotated[int, Field(ge=0, le=4)]) -> bytes:
    return bytes(range(n))


def nothing() -> None:
    return None


def fails(why: str = "") -> int:
    raise ValueError(why)
"""

#: Generated requests per action and mode (schema-valid, and not): about 200 in all.
EXAMPLES = 6

#: Not schemathesis's negative_data_rejection: values outside the schema that pydantic's
#: lax mode coerces (a duplicate in a set, "3" for an int in a form) are accepted on purpose.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def fuzz_kernel(jp_serverapp: Any, jp_asyncio_loop: asyncio.AbstractEventLoop) -> Iterator[Kernel]:
    kid = start_kernel(jp_serverapp, jp_asyncio_loop, "%load_ext notebook_actions", FUZZ_ACTIONS)
    yield Kernel(kid, jp_serverapp, jp_asyncio_loop)
    stop_kernel(jp_serverapp, jp_asyncio_loop, kid)


def fuzz_every_operation(schema: Any, call: Callable[[Any], Any], headers: dict[str, str]) -> int:
    """Generated requests for every operation of the document, schema-valid and not, sent with
    ``call(case)``; each answer checked against the document. Returns the operations' count."""

    def fuzz(operation: Any, mode: Any, checks: list[Any]) -> None:
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],  # no shrinking: a bounded run
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: Any) -> None:
            case.validate_response(call(case), checks=checks, headers=headers)

        run()

    operations = [cast("Any", result).ok() for result in schema.get_all_operations()]
    for operation in operations:
        checks = CHECKS
        if operation.definition.raw["operationId"] in EXPECTED_500:
            checks = [check for check in CHECKS if check is not not_a_server_error]
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz(operation, mode, checks)
    return len(operations)


#: Statuses that are not the server's fault whatever the input: ``fails`` raises (500
#: with a type and digest is its documented answer).
EXPECTED_500 = {"fails"}


def test_generated_requests_get_documented_answers(
    jp_fetch: Any,
    fuzz_kernel: Kernel,
    jp_http_port: int,
    jp_base_url: str,
    jp_auth_header: dict[str, str],
    jp_asyncio_loop: asyncio.AbstractEventLoop,
) -> None:
    loop = jp_asyncio_loop
    document = json.loads(loop.run_until_complete(jp_fetch(*fuzz_kernel.url("openapi.json"))).body)
    schema = schemathesis.openapi.from_dict(document)
    base_url = f"http://127.0.0.1:{jp_http_port}{jp_base_url.rstrip('/')}"
    session = requests.Session()
    sent: dict[int, int] = {}

    def call(case: Any) -> Any:
        # The server runs on this thread's event loop: the blocking request goes to a thread.
        response = loop.run_until_complete(
            asyncio.to_thread(case.call, base_url=base_url, session=session, headers=jp_auth_header, timeout=60)
        )
        sent[response.status_code] = sent.get(response.status_code, 0) + 1
        return response

    try:
        operations = fuzz_every_operation(schema, call, jp_auth_header)
    finally:
        session.close()
    assert operations == FUZZ_ACTIONS.count("\ndef ") + FUZZ_ACTIONS.count("\nasync def ")
    assert 100 <= sum(sent.values()) <= 400, sent
    assert not [status for status in sent if status >= 500 and status != 500], sent


# --- garbage bodies, beyond what a schema describes ---------------------------------------

LONE = st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff"])
TEXT = st.text(max_size=20) | st.builds(lambda a, b, c: a + b + c, st.text(max_size=5), LONE, st.text(max_size=5))
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
)


@st.composite
def json_bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["value", "deep", "number", "broken"]))
    if kind == "value":
        return json.dumps(draw(JSON_VALUES)).encode()  # lone surrogates travel as \\ud800 escapes
    if kind == "deep":
        depth = draw(st.integers(90, 3000))
        return ('{"text": ' + "[" * depth + "]" * depth + "}").encode()
    if kind == "number":
        number = draw(st.sampled_from(["1e400", "-1e999", "NaN", "Infinity", "1" * 5000]))
        return f'{{"text": "x", "times": {number}}}'.encode()
    return draw(st.binary(max_size=200))


@st.composite
def multipart_bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    boundary = draw(st.sampled_from(["b", "----x", "a" * 70, ""]))
    pieces = [
        f"--{boundary}\r\n".encode(),
        f"--{boundary}--\r\n".encode(),
        b'Content-Disposition: form-data; name="file"; filename="a.bin"\r\n',
        b'Content-Disposition: form-data; name="label"\r\n',
        b"Content-Disposition: form-data\r\n",
        b"Content-Disposition: form-data; name*=utf-8''%ED%A0%80\r\n",
        b"Content-Disposition: form-data; name=\"file\"; filename*=utf-8''%ff%fe\r\n",
        b"Content-Type: text/plain\r\n",
        b"\r\n",
        b"\xff\xfe data \r\n",
    ]
    body = b"".join(draw(st.lists(st.sampled_from(pieces) | st.binary(max_size=30), max_size=12)))
    return body, f"multipart/form-data; boundary={boundary}" if boundary else "multipart/form-data"


CONTENT_TYPES = st.sampled_from(
    ["application/json", "application/x-www-form-urlencoded", "text/plain", "application/json; charset=latin-1", ""]
)


def test_garbage_bodies_get_documented_refusals(
    jp_fetch: Any, fuzz_kernel: Kernel, jp_asyncio_loop: asyncio.AbstractEventLoop
) -> None:
    loop = jp_asyncio_loop
    names = ["scalars", "untyped", "upload", "uploads", "stream", "nothing"]
    bridges = fuzz_kernel.serverapp.web_app.settings["notebook_actions"].bridges
    loop.run_until_complete(jp_fetch(*fuzz_kernel.url("actions")))
    bridge = bridges.get(fuzz_kernel.id)

    def post(name: str, data: bytes, content_type: str) -> Any:
        headers = {"Content-Type": content_type} if content_type else {}
        fetch = jp_fetch(
            *fuzz_kernel.url("actions", name), method="POST", body=data, headers=headers, raise_error=False
        )
        return loop.run_until_complete(fetch)

    @settings(max_examples=120, deadline=None, database=None, derandomize=True, phases=[Phase.generate])
    @given(
        name=st.sampled_from(names),
        body=json_bodies() | multipart_bodies().map(lambda pair: pair[0]),
        content_type=CONTENT_TYPES | multipart_bodies().map(lambda pair: pair[1]),
    )
    def run(name: str, body: bytes, content_type: str) -> None:
        r = post(name, body, content_type)
        assert r.code in {200, 400, 413, 415, 422}, (r.code, r.body[:300])
        assert r.headers["Content-Type"].startswith("application/json")
        answer = json.loads(r.body)
        if r.code != 200:
            assert isinstance(answer["message"], str) and answer["message"], answer
            assert "Traceback" not in answer["message"]

    run()
    assert bridges.get(fuzz_kernel.id) is bridge and bridge.closed is None
    r = post("scalars", b'{"text": "t", "count": 1, "ratio": 0.5, "flag": true, "amount": "1.5"}', "application/json")
    assert json.loads(r.body)["value"]["amount"] == "1.5"
