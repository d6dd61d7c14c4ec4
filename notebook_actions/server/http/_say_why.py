"""A refusal of jupyter-server's that says why, in words that name the option."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from tornado import web


def say_why(handler: web.RequestHandler, message: str) -> None:
    """Make the handler's refusal say ``message``, as JSON.

    jupyter-server answers a refused request with a message of its own that cannot name the
    option (``@authorized``: "User is not authorized to read on resource: kernels.", the
    kernel websocket a bare 403, as HTML where the handler is not an API's), and
    ``is_authorized`` is a question, not the place to raise (``/api/me`` asks it about
    permissions). So the handler's next 403 is written here.
    """
    jupyters = handler.write_error

    def write_error(status_code: int, **kwargs: Any) -> None:
        if status_code != HTTPStatus.FORBIDDEN:
            jupyters(status_code, **kwargs)
            return
        handler.set_header("Content-Type", "application/json")
        handler.finish(json.dumps({"message": message, "reason": "Forbidden"}))

    handler.write_error = write_error  # type: ignore[method-assign]
