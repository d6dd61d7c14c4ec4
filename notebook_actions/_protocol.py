"""The wire messages shared by every transport (widget custom messages, the kernel comm).

Every message is a dict tagged by ``kind``. A request carries a client-chosen ``id``;
every reply to it echoes that ``id``. Binary parts (uploaded files, ``bytes`` results)
travel as the transport's message buffers and are referred to by index.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from typing_extensions import NotRequired

# --- requests -------------------------------------------------------------------


class FileRef(TypedDict):
    """A file sent with an invoke: either inline (``buffer``) or as a finished ``upload``."""

    name: str
    content_type: NotRequired[str]
    buffer: NotRequired[int]
    upload: NotRequired[str]


class InvokeRequest(TypedDict):
    kind: Literal["invoke"]
    id: str
    # Exactly one of ``action`` (an action id: any action, exported or inline) and
    # ``name`` (an exported action's name) says what to run.
    action: NotRequired[str]
    name: NotRequired[str]
    args: NotRequired[dict[str, Any]]
    # "form": values arrive as strings (HTML form semantics: "3" -> 3, "on" -> True,
    # a missing checkbox -> False, "" -> None/default). "json": values are JSON values.
    encoding: NotRequired[Literal["json", "form"]]
    files: NotRequired[dict[str, list[FileRef]]]


class CancelRequest(TypedDict):
    kind: Literal["cancel"]
    id: str


class UploadChunk(TypedDict):
    """One piece of a file too large for one message; the bytes are buffer ``buffer``
    (default 0; say it inside a batch). ``cancel`` with the upload's id drops it."""

    kind: Literal["upload"]
    id: str  # the upload's id, chosen by the client
    name: NotRequired[str]  # on the first chunk: the file's name and content type
    content_type: NotRequired[str]
    final: NotRequired[bool]
    buffer: NotRequired[int]


class ListRequest(TypedDict):
    kind: Literal["list"]
    id: str


class Batch(TypedDict):
    """Several messages in one transport message; buffer indices are batch-wide."""

    kind: Literal["batch"]
    messages: list[dict[str, Any]]


Request = InvokeRequest | CancelRequest | UploadChunk | ListRequest

# --- replies --------------------------------------------------------------------


class ResultReply(TypedDict):
    kind: Literal["result"]
    id: str
    value: Any
    # When the action returned bytes, ``value`` is null and the bytes are ``buffer``.
    buffer: NotRequired[int]


class FieldError(TypedDict):
    field: str  # the parameter name ("" when the error is about the call as a whole)
    loc: list[str | int]  # the path inside the parameter's value
    message: str
    type: str


class InvalidReply(TypedDict):
    kind: Literal["invalid"]
    id: str
    errors: list[FieldError]


class ErrorReply(TypedDict):
    kind: Literal["error"]
    id: str
    type: str
    message: str
    # Also written, with the full traceback, to the kernel's log.
    digest: str
    # Only on transports that reach the notebook's owner (widgets), never over HTTP.
    traceback: NotRequired[str]


class NotFoundReply(TypedDict):
    kind: Literal["not_found"]
    id: str
    message: str


class ProgressInfo(TypedDict):
    value: float
    total: float | None
    message: str


class ChunkReply(TypedDict):
    kind: Literal["chunk"]
    id: str
    seq: int
    value: Any
    buffer: NotRequired[int]  # a bytes chunk, as for results
    progress: NotRequired[ProgressInfo]  # set when the action yielded a Progress


class EndReply(TypedDict):
    kind: Literal["end"]
    id: str


class CancelledReply(TypedDict):
    kind: Literal["cancelled"]
    id: str


class UploadAck(TypedDict):
    """Sent after every chunk: the client paces itself and shows progress by it."""

    kind: Literal["uploaded"]
    id: str
    size: int


class ActionInfo(TypedDict):
    id: str
    name: str
    exported: bool
    doc: str
    signature: str
    streaming: bool
    params: dict[str, Any]  # JSON Schema of the arguments object
    returns: dict[str, Any]  # JSON Schema of the result (or of each chunk when streaming)


class ActionsReply(TypedDict):
    kind: Literal["actions"]
    id: str
    actions: list[ActionInfo]


class ActionsChanged(TypedDict):
    """Sent unasked on the server's comm when the exported actions change (a
    ``%%use_server`` cell ran), so the server can tell MCP clients; ``id`` is empty."""

    kind: Literal["changed"]
    id: str


Reply = (
    ResultReply
    | InvalidReply
    | ErrorReply
    | NotFoundReply
    | ChunkReply
    | EndReply
    | CancelledReply
    | UploadAck
    | ActionsReply
    | ActionsChanged
)

#: Replies after which no more replies come for the same request id.
FINAL_KINDS = frozenset({"result", "invalid", "error", "not_found", "end", "cancelled", "actions"})

#: The comm target the server extension opens in a kernel.
COMM_TARGET = "notebook_actions"
