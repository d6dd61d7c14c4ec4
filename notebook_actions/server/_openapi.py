"""An OpenAPI 3.1 document for the exported actions of one kernel."""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import Field, TypeAdapter
from typing_extensions import NotRequired, TypedDict

from .._protocol import ActionInfo
from ._body import MAX_JSON_DEPTH, MAX_PARTS

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class ErrorBody(TypedDict):
    """Every error answer (the statuses below without a schema of their own)."""

    message: Annotated[str, Field(description="What happened and what to do about it.")]
    reason: NotRequired[str | None]


class ActionErrorBody(TypedDict):
    """A 500: the action raised, or the kernel could not run the request."""

    message: str
    type: Annotated[str, Field(description="The type of the exception the action raised.")]
    digest: Annotated[str, Field(description="Also in the kernel's log, next to the full traceback.")]
    exception_message: NotRequired[
        Annotated[str, Field(description="Only when the server sets NotebookActions.expose_exception_messages.")]
    ]


class FieldErrorBody(TypedDict):
    """One invalid argument (the protocol's ``FieldError``)."""

    field: Annotated[str, Field(description="The argument ('' for the call as a whole).")]
    loc: list[str | int]
    message: str
    type: str


class ValidationErrorBody(TypedDict):
    """A 422: one entry per invalid field."""

    message: str
    errors: list[FieldErrorBody]


def _error_schemas() -> dict[str, Any]:
    """The error bodies' JSON Schemas, by component name (``$ref``s point into components)."""
    schemas: dict[str, Any] = {}
    for name, body in (
        ("Error", ErrorBody),
        ("ActionError", ActionErrorBody),
        ("ValidationError", ValidationErrorBody),
    ):
        schema = TypeAdapter(body).json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[name] = schema
    return schemas


ERROR_SCHEMAS = _error_schemas()

_ERRORS = {
    "400": "The body cannot be read, or could not travel to the kernel: not valid JSON or UTF-8, "
    f"JSON nested more than {MAX_JSON_DEPTH} levels deep or holding a lone surrogate, a malformed "
    "multipart body, or JSON sent as a form.",
    "403": "Not authenticated or not authorized (or a cookie-authenticated request without its XSRF token).",
    "404": "No such kernel, notebook session or exported action, or notebook-actions is not loaded in the kernel.",
    "413": f"The body or an uploaded file is larger than the server allows, or a multipart body has more than "
    f"{MAX_PARTS} fields or files.",
    "415": "The body's content type is not JSON, urlencoded or multipart/form-data.",
    "429": "Too many requests: past the caller's rate limit, or past the requests that may wait for a ready "
    "kernel; Retry-After says when to try again.",
    "502": "The kernel gateway refused this server's connection to the kernel (the server's gateway token).",
    "503": "The kernel is dead, restarting, or was busy for the whole timeout.",
    "504": "The action did not finish in time; it was cancelled in the kernel.",
}


#: Every error status an action's route can answer, in order.
STATUSES = ("400", "403", "404", "413", "415", "422", "429", "500", "502", "503", "504")


def _component_name(*parts: str) -> str:
    return ".".join(_UNSAFE.sub("_", part) for part in parts)


def _relocate(schema: dict[str, Any], prefix: str, components: dict[str, Any]) -> dict[str, Any]:
    """Move a schema's ``$defs`` into ``components/schemas``: in an OpenAPI document a
    ``$ref`` such as ``#/$defs/X`` would resolve against the document, not the schema."""
    schema = copy.deepcopy(schema)
    defs = schema.pop("$defs", {})
    names = {name: _component_name(prefix, name) for name in defs}

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            out = {key: rewrite(value) for key, value in node.items()}
            ref = out.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                target = names.get(ref.removeprefix("#/$defs/"))
                if target is not None:
                    out["$ref"] = f"#/components/schemas/{target}"
            return out
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        return node

    for name, definition in defs.items():
        components[names[name]] = rewrite(definition)
    result: dict[str, Any] = rewrite(schema)
    return result


def _operation(info: ActionInfo, schemas: dict[str, Any]) -> dict[str, Any]:
    name = info["name"]
    params = _relocate(info["params"], name, schemas)
    params_name = _component_name(name, "arguments")
    schemas[params_name] = params
    params_ref = {"$ref": f"#/components/schemas/{params_name}"}
    returns = _relocate(info["returns"], f"{name}.result", schemas) if info["returns"] else {}

    content: dict[str, Any] = {}
    if not info.get("files"):  # files come only in a multipart body
        content["application/json"] = {"schema": params_ref}
        content["application/x-www-form-urlencoded"] = {"schema": params_ref}
    content["multipart/form-data"] = {"schema": params_ref}

    ok: dict[str, Any]
    if info["streaming"]:
        ok = {
            "description": "Every chunk the action yielded (without Progress), once it has finished; "
            "with `Accept: text/event-stream`, one `chunk` (or `progress`) event per chunk "
            "as it comes, then `end` (or `error`).",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {"value": {"type": "array", "items": returns}},
                        "required": ["value"],
                    },
                },
                "text/event-stream": {"schema": {"type": "string"}},
            },
        }
    elif returns.get("format") == "binary":
        ok = {
            "description": "The bytes the action returned.",
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    else:
        ok = {
            "description": "The action's result (bytes come back as application/octet-stream).",
            "content": {
                "application/json": {
                    "schema": {"type": "object", "properties": {"value": returns}, "required": ["value"]}
                }
            },
        }

    doc = info["doc"]
    responses: dict[str, Any] = {"200": ok}
    responses.update({status: {"$ref": f"#/components/responses/{status}"} for status in STATUSES})
    return {
        "operationId": name,
        "summary": doc.splitlines()[0] if doc else info["signature"],
        "description": f"`{info['signature']}`" + (f"\n\n{doc}" if doc else ""),
        "requestBody": {"required": bool(params.get("required")), "content": content},
        "responses": responses,
    }


def openapi_document(actions: Sequence[ActionInfo], *, base_url: str, route: str, title: str) -> dict[str, Any]:
    """``route`` is the path (below ``base_url``) that ``/actions/{name}`` is appended to."""
    schemas: dict[str, Any] = copy.deepcopy(ERROR_SCHEMAS)
    paths = {f"{route}/actions/{info['name']}": {"post": _operation(info, schemas)} for info in actions}
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    responses: dict[str, Any] = {status: {"description": text, "content": error} for status, text in _ERRORS.items()}
    responses["422"] = {
        "description": "The arguments do not fit the action's signature: one entry per field.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ValidationError"}}},
    }
    responses["500"] = {
        "description": "The action raised: the exception's type and a digest, never a traceback.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ActionError"}}},
    }
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": "1",
            "description": "Exported server actions (from %%use_server cells) of a running kernel.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": responses,
            "securitySchemes": {
                "token": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "`token <the server's token>`",
                },
            },
        },
        "security": [{"token": []}],
    }
    server = base_url.rstrip("/")
    if server:
        document["servers"] = [{"url": server}]
    return document
