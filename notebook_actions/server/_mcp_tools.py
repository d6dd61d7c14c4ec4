"""Exported actions as MCP tools, and the kernel's replies as MCP tool results.

Only what an HTTP caller may see goes into a tool: the name, the docstring, the
JSON Schemas (secret defaults are already left out by the kernel). File parameters
(``UploadedFile``, as the kernel's ``files`` names them) take the file as base64 ``contents``, since MCP has no binary
arguments; the server decodes them and sends the bytes to the kernel as it does
for a multipart upload.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
from typing import Any

import mcp_types as types

from .._protocol import ActionInfo, FieldError

#: What an MCP client sends for one file.
FILE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A file, sent as base64.",
    "properties": {
        "name": {"type": "string", "description": "The file's name."},
        "content_type": {"type": "string", "description": "Its media type.", "default": "application/octet-stream"},
        "contents": {"type": "string", "contentEncoding": "base64", "description": "The file's bytes, base64."},
    },
    "required": ["contents"],
    "additionalProperties": False,
}

FILE_NOTE = (
    "File parameters ({names}) take an object {{name, content_type, contents}} with the file's bytes "
    "base64-encoded in contents."
)


def _with_file_schemas(params: dict[str, Any], files: dict[str, bool]) -> dict[str, Any]:
    schema = copy.deepcopy(params)
    props = schema.setdefault("properties", {})
    for name, many in files.items():
        title = props.get(name, {}).get("title")
        file_schema = {"type": "array", "items": FILE_SCHEMA} if many else dict(FILE_SCHEMA)
        props[name] = {**file_schema, **({"title": title} if title else {})}
    return schema


def tool_for(info: ActionInfo) -> types.Tool:
    """The MCP tool of one exported action (as the kernel describes it)."""
    params = info.get("params") or {"type": "object", "properties": {}}
    files = info.get("files") or {}
    description = str(info.get("doc") or "") or f"The notebook action {info['signature']}."
    if files:
        params = _with_file_schemas(params, files)
        description += "\n\n" + FILE_NOTE.format(names=", ".join(files))
    if info.get("streaming"):
        description += (
            "\n\nStreams: the result is the list of values it yields; progress is reported as it runs "
            "when the request carries a progressToken."
        )
    params = {**params, "type": "object"}
    returns = info.get("returns") or {}
    output = returns if not info.get("streaming") and returns.get("type") == "object" else None
    return types.Tool(name=info["name"], description=description, input_schema=params, output_schema=output)


class InvalidFile(ValueError):
    def __init__(self, error: FieldError) -> None:
        super().__init__(error["message"])
        self.error = error


def take_files(
    arguments: dict[str, Any], files: dict[str, bool]
) -> tuple[dict[str, Any], list[tuple[str, str, str, bytes]]]:
    """Split the base64 files out of a tool call's arguments: (other arguments,
    [(field, name, content type, bytes)]); ``InvalidFile`` if one is malformed."""
    rest = dict(arguments)
    decoded: list[tuple[str, str, str, bytes]] = []
    for field, many in files.items():
        if field not in rest or rest[field] is None:
            continue
        value = rest.pop(field)
        items = value if many and isinstance(value, list) else [value]
        for index, item in enumerate(items):
            loc: list[str | int] = [index] if many else []
            if not isinstance(item, dict) or not isinstance(item.get("contents"), str):
                message = "Send the file as an object with its bytes base64-encoded in 'contents'."
                raise InvalidFile({"field": field, "loc": loc, "message": message, "type": "file_type"})
            try:
                data = base64.b64decode(item["contents"], validate=True)
            except (binascii.Error, ValueError):
                message = "'contents' is not valid base64."
                raise InvalidFile(
                    {"field": field, "loc": [*loc, "contents"], "message": message, "type": "base64"}
                ) from None
            name = str(item.get("name") or field)
            content_type = str(item.get("content_type") or "application/octet-stream")
            decoded.append((field, name, content_type, data))
    return rest, decoded


def _text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def result_of(value: Any, tool: types.Tool | None) -> types.CallToolResult:
    """A value the action returned: its JSON as text, and as structured content (an
    object as is, anything else under ``result``)."""
    structured = value if isinstance(value, dict) and tool is not None and tool.output_schema else {"result": value}
    return types.CallToolResult(content=[types.TextContent(text=_text(value))], structured_content=structured)


def bytes_result(data: bytes, name: str) -> types.CallToolResult:
    blob = types.BlobResourceContents(
        uri=f"notebook-actions://result/{name}",
        mime_type="application/octet-stream",
        blob=base64.b64encode(data).decode("ascii"),
    )
    text = types.TextContent(text=f"{len(data)} bytes (base64 in the embedded resource)")
    return types.CallToolResult(content=[text, types.EmbeddedResource(resource=blob)])


def error_result(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)


def invalid_result(errors: list[FieldError]) -> types.CallToolResult:
    """One line per invalid field, as a model can read and correct."""
    lines = ["Invalid arguments:"]
    for error in errors:
        where = ".".join(str(part) for part in [error.get("field") or "arguments", *error.get("loc", [])])
        lines.append(f"- {where}: {error.get('message')}")
    return error_result("\n".join(lines))
