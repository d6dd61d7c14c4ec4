"""The wire messages shared by every transport (widget custom messages, the kernel comm).

Every message is a dict tagged by ``kind``. A request carries a client-chosen ``id``;
every reply to it echoes that ``id``. Binary parts (uploaded files, ``bytes`` results)
travel as the transport's message buffers and are referred to by index.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, Literal, TypedDict, cast

from typing_extensions import NotRequired

#: A message's binary part, as the transports hand them over.
Buffer = bytes | bytearray | memoryview

# --- requests -------------------------------------------------------------------


class FileRef(TypedDict):
    """A file sent with an invoke: either inline (``buffer``) or as a finished ``upload``."""

    name: str
    content_type: NotRequired[str]
    buffer: NotRequired[int]
    upload: NotRequired[str]


#: The front door a call came through.
Via = Literal["widget", "http", "mcp", "app"]


class CallerInfo(TypedDict):
    """Who makes a call, as the server authenticated them (``current_user()`` in the action).
    Only the server's comm carries it; the kernel ignores it on any other channel."""

    name: str
    display_name: str
    #: None when the identity source does not say
    groups: list[str] | None
    anonymous: bool
    via: Via


class InvokeRequest(TypedDict):
    kind: Literal["invoke"]
    id: str
    # Exactly one of ``action`` (an action id: any action, exported or inline) and
    # ``name`` (an exported action's name) says what to run.
    action: NotRequired[str]
    name: NotRequired[str]
    args: NotRequired[dict[str, Any]]
    # In a form's encoding values arrive as strings (HTML form semantics: "3" -> 3, "on" -> True,
    # a missing checkbox -> False, "" -> None/default); in JSON's, they are JSON values.
    encoding: NotRequired[Literal["json", "form"]]
    files: NotRequired[dict[str, list[FileRef]]]
    caller: NotRequired[CallerInfo]


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


class WaitingReply(TypedDict):
    """Not final: the request waits for the kernel's main thread (a running cell). Sent
    at most once, from the thread the request arrived on, so the client can say why."""

    kind: Literal["waiting"]
    id: str
    message: str


class ActionInfo(TypedDict):
    id: str
    name: str
    exported: bool
    doc: str
    signature: str
    streaming: bool
    threadsafe: bool  # may answer while a cell runs (``@action(threadsafe=True)``)
    params: dict[str, Any]  # JSON Schema of the arguments object
    returns: dict[str, Any]  # JSON Schema of the result (or of each chunk when streaming)
    # The parameters that take files (``UploadedFile``), each with whether it takes several:
    # what forms, OpenAPI and MCP read, rather than guessing from the JSON Schema.
    files: dict[str, bool]
    # At most this many calls in flight on a server (``@action(max_concurrency=N)``).
    max_concurrency: NotRequired[int]


#: What a widget's synced state holds of an action's info (the browser's view of it): the id
#: it calls by, never the signature text, which would show a default's ``repr``.
WIDGET_VIEW = ("id", "name", "doc", "streaming", "params", "files")
#: What an HTTP listing shows: no ids, HTTP callers address actions by name.
LISTING_VIEW = ("name", "doc", "signature", "streaming", "threadsafe", "max_concurrency", "params", "returns", "files")


def view_of(info: ActionInfo, keys: tuple[str, ...]) -> dict[str, Any]:
    """The part of an action's one description that an audience may see."""
    return {key: info[key] for key in keys if key in info}  # type: ignore[literal-required]


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
    | WaitingReply
    | ActionsChanged
)


class ReplyBatch(TypedDict):
    """Several replies in one transport message (``pack`` makes them)."""

    kind: Literal["batch"]
    messages: list[Reply]


class Ready(TypedDict):
    """What the comm target sends when it opens (an unknown target closes the comm instead)."""

    kind: Literal["ready"]
    id: Literal[""]
    protocol: int


#: What a channel hands its transport: one reply, or several in a batch.
Outgoing = Reply | ReplyBatch
#: A transport's way to deliver a message and its buffers to the client.
Send = Callable[[Outgoing, list[Buffer]], None]

#: Replies after which no more replies come for the same request id.
FINAL_KINDS = frozenset({"result", "invalid", "error", "not_found", "end", "cancelled", "actions"})

#: The comm target the server extension opens in a kernel.
COMM_TARGET = "notebook_actions"

#: The ``type`` of errors the dispatcher makes itself (no action raised them; their
#: ``digest`` is empty and their message is safe to show any client).
PROTOCOL_ERROR: Final = "ProtocolError"  # a malformed or conflicting request
UPLOAD_TOO_LARGE: Final = "UploadTooLarge"
UNSERIALIZABLE_RESULT: Final = "UnserializableResult"
OWN_ERRORS = frozenset({PROTOCOL_ERROR, UPLOAD_TOO_LARGE, UNSERIALIZABLE_RESULT})


# --- batching -------------------------------------------------------------------


def pack(items: Sequence[tuple[Any, Sequence[Buffer]]]) -> tuple[Any, list[Buffer]]:
    """One transport message for ``items`` (each a message and its own buffers).

    A lone message travels as it is; several as a ``batch``, whose buffer indices are
    batch-wide: each message's references (``buffer``, an invoke's file refs) are
    shifted past the buffers of the messages before it.
    """
    if len(items) == 1:
        message, own = items[0]
        return message, list(own)
    messages: list[Any] = []
    buffers: list[Buffer] = []
    for message, own in items:
        messages.append(_shifted(message, len(buffers)) if own and buffers else message)
        buffers.extend(own)
    return {"kind": "batch", "messages": messages}, buffers


def _shifted(message: dict[str, Any], offset: int) -> dict[str, Any]:
    shifted = dict(message)
    if "buffer" in message or message.get("kind") == "upload":  # an upload's chunk is buffer 0 unless said
        shifted["buffer"] = int(message.get("buffer") or 0) + offset
    files = message.get("files")
    if isinstance(files, dict):
        shifted["files"] = {
            field: [{**ref, "buffer": ref["buffer"] + offset} if "buffer" in ref else ref for ref in refs]
            for field, refs in files.items()
        }
    return shifted


def unpack(message: Any) -> list[Any]:
    """The messages one transport message carries (their buffer indices stay batch-wide)."""
    if isinstance(message, dict) and message.get("kind") == "batch":
        items = message.get("messages")
        return list(items) if isinstance(items, list) else []
    return [message]


def split(message: Any, buffers: Sequence[Buffer]) -> list[tuple[dict[str, Any], list[Buffer]]]:
    """Each reply a transport message carries, with its own buffer (as buffer 0).

    What is not a reply (not a dict) is left out."""
    out: list[tuple[dict[str, Any], list[Buffer]]] = []
    for item in unpack(message):
        if not isinstance(item, dict):
            continue
        index = item.get("buffer")
        if isinstance(index, int) and 0 <= index < len(buffers):
            out.append(({**item, "buffer": 0}, [buffers[index]]))
        else:
            out.append((item, []))
    return out


def replies_to(messages: Iterable[tuple[Any, Sequence[Buffer]]], rid: str) -> list[tuple[Reply, list[Buffer]]]:
    """The replies to request ``rid`` among transport messages, in order, batches unpacked."""
    return [
        (cast("Reply", reply), own)
        for message, buffers in messages
        for reply, own in split(message, buffers)
        if reply.get("id") == rid
    ]
