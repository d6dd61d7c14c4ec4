"""GET .../actions and .../openapi.json, by kernel id and by notebook path."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from .conftest import ACTIONS, JSON, Kernel, body, execute, server_test

NOTEBOOK = "dir/my notebook.ipynb"


@server_test
async def test_list_gives_exported_actions_with_schemas(jp_fetch: Any, kernel: Kernel, jp_base_url: str) -> None:
    r = await jp_fetch(*kernel.url("actions"))
    data = body(r)
    assert data["kernel_id"] == kernel.id
    actions = {a["name"]: a for a in data["actions"]}
    assert "hidden" not in actions  # inline actions are not listed
    assert "make_inline" not in actions  # a plain cell's functions are not actions
    add = actions["add"]
    assert add["doc"] == "Add two numbers."
    assert add["signature"] == "add(a: int, b: int = 2)"
    assert add["streaming"] is False
    assert add["params"]["required"] == ["a"]
    assert add["returns"] == {"type": "integer"}
    assert add["url"] == f"{jp_base_url}notebook-actions/api/kernels/{kernel.id}/actions/add"
    assert "id" not in add  # callers address actions by name
    assert actions["count"]["streaming"] is True
    assert actions["digest"]["params"]["properties"]["file"]["format"] == "binary"


def resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def check_openapi(document: dict[str, Any]) -> None:
    """What makes it a usable OpenAPI 3.1 document: every $ref resolves inside it, every
    schema is a valid JSON Schema (2020-12), every operation names its responses."""
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"]
    for ref in refs(document):
        assert ref.startswith("#/components/"), ref
        resolve(document, ref)
    for name, schema in document["components"]["schemas"].items():
        assert name.replace(".", "").replace("_", "").replace("-", "").isalnum(), name
        Draft202012Validator.check_schema(schema)
    for path, item in document["paths"].items():
        assert path.startswith("/notebook-actions/api/")
        operation = item["post"]
        assert operation["operationId"]
        assert {"200", "404", "422", "500", "503", "504"} <= set(operation["responses"])


def validator(document: dict[str, Any], ref: str) -> Draft202012Validator:
    registry: Registry = Registry().with_resource("urn:doc", Resource.from_contents(document, DRAFT202012))
    return Draft202012Validator({"$ref": f"urn:doc{ref}"}, registry=registry)


@server_test
async def test_openapi_describes_the_actions(jp_fetch: Any, kernel: Kernel, jp_base_url: str) -> None:
    document = body(await jp_fetch(*kernel.url("openapi.json")))
    check_openapi(document)
    assert document["servers"] == [{"url": jp_base_url.rstrip("/")}]
    base = f"/notebook-actions/api/kernels/{kernel.id}/actions"
    add = document["paths"][f"{base}/add"]["post"]
    assert add["summary"] == "Add two numbers."
    content = add["requestBody"]["content"]
    assert set(content) == {"application/json", "application/x-www-form-urlencoded", "multipart/form-data"}
    params = validator(document, content["application/json"]["schema"]["$ref"])
    assert params.is_valid({"a": 1})
    assert not params.is_valid({"a": "x"})
    assert not params.is_valid({"b": 1})
    ok = add["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["properties"]["value"] == {"type": "integer"}
    # a file parameter: multipart only
    digest = document["paths"][f"{base}/digest"]["post"]
    assert set(digest["requestBody"]["content"]) == {"multipart/form-data"}
    # bytes come back as such
    raw = document["paths"][f"{base}/raw"]["post"]
    assert "application/octet-stream" in raw["responses"]["200"]["content"]
    # streaming: JSON list, or server-sent events
    count = document["paths"][f"{base}/count"]["post"]
    assert set(count["responses"]["200"]["content"]) == {"application/json", "text/event-stream"}
    # models referenced by the arguments live in components, and validate
    manhattan = document["paths"][f"{base}/manhattan"]["post"]
    ref = manhattan["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert "manhattan.Point" in document["components"]["schemas"]
    args = validator(document, ref)
    assert args.is_valid({"p": {"x": 1, "y": 2}, "q": None})
    assert not args.is_valid({"p": {"x": "no"}})
    # and the document's own paths work as described
    path = document["servers"][0]["url"].removeprefix(jp_base_url.rstrip("/")) + f"{base}/manhattan"
    r = await jp_fetch(path, method="POST", body=json.dumps({"p": {"x": 3, "y": -4}}), headers=dict(JSON))
    assert body(r) == {"value": {"x": 3, "y": 4}}


@pytest.fixture
def notebook_kernel(jp_fetch: Any, jp_serverapp: Any, jp_create_notebook: Any, kernel_loop: Any) -> Iterator[Kernel]:
    """A notebook with a running session (as JupyterLab makes one), actions loaded."""
    jp_create_notebook(NOTEBOOK)

    async def start() -> tuple[str, str]:
        model = {"path": NOTEBOOK, "type": "notebook", "name": "", "kernel": {"name": "python3"}}
        r = await jp_fetch("api", "sessions", method="POST", body=json.dumps(model))
        session = body(r)
        await execute(jp_serverapp, session["kernel"]["id"], "%load_ext notebook_actions")
        await execute(jp_serverapp, session["kernel"]["id"], ACTIONS)
        return session["id"], session["kernel"]["id"]

    session_id, kid = kernel_loop.run_until_complete(start())
    yield Kernel(kid, jp_serverapp, kernel_loop)
    kernel_loop.run_until_complete(jp_fetch("api", "sessions", session_id, method="DELETE"))


@pytest.fixture
def kernel_loop(jp_asyncio_loop: Any) -> Any:
    return jp_asyncio_loop


def notebook_url(*parts: str) -> tuple[str, ...]:
    return ("notebook-actions", "api", "notebooks", NOTEBOOK, *parts)


@server_test
async def test_notebook_path_routes(jp_fetch: Any, notebook_kernel: Kernel, jp_base_url: str) -> None:
    data = body(await jp_fetch(*notebook_url("actions")))
    assert data["kernel_id"] == notebook_kernel.id
    add = next(a for a in data["actions"] if a["name"] == "add")
    quoted = urllib.parse.quote(NOTEBOOK)
    assert add["url"] == f"{jp_base_url}notebook-actions/api/notebooks/{quoted}/actions/add"
    r = await jp_fetch(*notebook_url("actions", "add"), method="POST", body=json.dumps({"a": 40}), headers=dict(JSON))
    assert body(r) == {"value": 42}
    r = await jp_fetch(
        *notebook_url("actions", "echo"),
        method="POST",
        body="text=hi&times=2",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert body(r)["value"]["times"] == 2
    document = body(await jp_fetch(*notebook_url("openapi.json")))
    check_openapi(document)
    assert f"/notebook-actions/api/notebooks/{quoted}/actions/add" in document["paths"]
    assert document["info"]["title"] == f"notebook-actions: {NOTEBOOK}"


@server_test
async def test_notebook_without_a_session_is_404(jp_fetch: Any, jp_serverapp: Any) -> None:
    for parts in (notebook_url("actions"), notebook_url("openapi.json")):
        r = await jp_fetch(*parts, raise_error=False)
        assert r.code == 404
        assert "no running session for notebook 'dir/my notebook.ipynb'" in body(r)["message"]
    r = await jp_fetch(*notebook_url("actions", "add"), method="POST", body="{}", headers=dict(JSON), raise_error=False)
    assert r.code == 404
