"""The upload store: files sent in chunks (``upload`` messages) ahead of the invoke that
names them.

One store per client, shared by its lanes: a chunk is taken in on whatever thread it
arrives on, and the invoke may take the file on another, so every access takes the
store's lock.
"""

from __future__ import annotations

import threading
from typing import Any

from ._files import UploadedFile
from ._protocol import PROTOCOL_ERROR, UPLOAD_TOO_LARGE, Buffer, FileRef

DEFAULT_MAX_UPLOAD_BYTES = 1 << 30


class UploadRefused(Exception):
    """A chunk the store did not take; ``kind`` is the error reply's type."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class Uploads:
    """Uploads in progress and finished ones not yet taken by an invoke, by upload id."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_UPLOAD_BYTES) -> None:
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._files: dict[str, UploadedFile] = {}
        self._finished: set[str] = set()

    def receive(self, message: dict[str, Any], buffers: list[Buffer]) -> int:
        """Take in one chunk (the message's ``buffer``); the upload's size so far.

        Raises ``UploadRefused`` for a chunk of a finished upload, one without its bytes
        and one past the size limit (the last two drop the upload).
        """
        uid = message["id"]
        with self._lock:
            finished = uid in self._finished
        if finished:
            # (it was read back from the start: more bytes would overwrite the file)
            raise UploadRefused(PROTOCOL_ERROR, f"upload {uid!r} is finished: send another file under a new upload id")
        index = message.get("buffer", 0)
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(buffers):
            # A chunk without its bytes would leave a hole in the file, acknowledged as fine.
            self.discard(uid)
            text = f"a chunk of upload {uid!r} refers to buffer {index!r}, which was not sent: the upload is dropped"
            raise UploadRefused(PROTOCOL_ERROR, text)
        with self._lock:
            upload = self._files.get(uid)
            if upload is None:
                upload = UploadedFile(str(message.get("name") or "file"), str(message.get("content_type") or ""))
                self._files[uid] = upload
        upload.write(buffers[index])
        if upload.size > self.max_bytes:
            self.discard(uid)
            raise UploadRefused(UPLOAD_TOO_LARGE, f"the file is larger than the upload limit of {self.max_bytes} bytes")
        if message.get("final"):
            upload.seek(0)
            with self._lock:
                self._finished.add(uid)
        return upload.size

    def file(self, ref: FileRef, buffers: list[Buffer]) -> UploadedFile:
        """The file an invoke refers to: a finished upload (taken out of the store), or
        one of the invoke's own buffers. Raises ``ValueError`` if there is none."""
        if "upload" in ref:
            uid = ref["upload"]
            with self._lock:
                if uid not in self._finished:
                    message = f"upload {uid!r} is unknown or not finished: send all its chunks first"
                    raise ValueError(message)
                self._finished.discard(uid)
                upload = self._files.pop(uid)
            upload.name = ref.get("name") or upload.name
            return upload
        index = ref.get("buffer")
        if not isinstance(index, int) or not 0 <= index < len(buffers):
            message = f"file {ref.get('name')!r} refers to buffer {index!r}, which was not sent"
            raise ValueError(message)
        return UploadedFile.from_bytes(bytes(buffers[index]), ref.get("name") or "file", ref.get("content_type") or "")

    def discard(self, uid: str) -> bool:
        """Drop an upload (abandoned, refused, cancelled); whether there was one."""
        with self._lock:
            upload = self._files.pop(uid, None)
            self._finished.discard(uid)
        if upload is not None:
            upload.close()
        return upload is not None

    def discard_all(self) -> None:
        """The client went away: drop every upload it left."""
        with self._lock:
            files, self._files = self._files, {}
            self._finished.clear()
        for upload in files.values():
            upload.close()
