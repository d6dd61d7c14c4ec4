"""``UploadedFile``: what an action receives for a file parameter."""

from __future__ import annotations

import shutil
import tempfile
from os import PathLike
from pathlib import Path
from typing import IO, Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema
from typing_extensions import Self

# Files up to this size stay in memory; larger ones spill to a temporary file, so a
# 50 MB upload costs the kernel about one chunk of memory, not the whole file.
SPOOL_MAX_BYTES = 1 << 20


class UploadedFile:
    """A file a client sent: its name, content type, size, and its bytes as a stream.

    Annotate a parameter with ``UploadedFile`` (or ``list[UploadedFile]``) to accept
    uploads. Read it with ``read()``/``text()``, or use ``file`` as a binary stream.
    """

    def __init__(self, name: str, content_type: str = "application/octet-stream") -> None:
        self.name = name
        self.content_type = content_type or "application/octet-stream"
        # Closed by close() / the dispatcher once the action is done with it.
        self.file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX_BYTES)  # noqa: SIM115
        self.size = 0

    @classmethod
    def from_bytes(
        cls, data: bytes, name: str = "file", content_type: str = "application/octet-stream"
    ) -> UploadedFile:
        upload = cls(name, content_type)
        upload.write(data)
        upload.file.seek(0)
        return upload

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append bytes (used while the upload arrives)."""
        self.file.write(data)
        self.size += len(data)

    def read(self, size: int = -1) -> bytes:
        return self.file.read(size)

    def text(self, encoding: str = "utf-8") -> str:
        """The whole file decoded as text, from the start."""
        self.file.seek(0)
        return self.file.read().decode(encoding)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.file.seek(offset, whence)

    def save(self, path: str | PathLike[str]) -> None:
        """Copy the whole file to ``path`` without loading it into memory."""
        self.file.seek(0)
        with Path(path).open("wb") as target:
            shutil.copyfileobj(self.file, target)
        self.file.seek(0)

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"UploadedFile(name={self.name!r}, content_type={self.content_type!r}, size={self.size})"

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.is_instance_schema(
            cls,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda f: {"name": f.name, "content_type": f.content_type, "size": f.size}
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # OpenAPI 3.1 / JSON Schema's way to say "a file in a multipart body".
        return {"type": "string", "format": "binary", "contentMediaType": "application/octet-stream"}
