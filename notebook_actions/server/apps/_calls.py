"""Calls the app page's server makes itself, through the service every front door uses: its
views' renders on each page load, and the actions of forms posted without JavaScript.

A page load renders every ``View`` of the page afresh in one kernel of the pool (each holds
a ``render_action``), so the page shows the data as it is now, before any JavaScript runs:
one lease for all of a page's views, released as soon as they rendered. Each render is
made as the page's visitor (``current_user()``), as its calls are.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from ..._protocol import CallerInfo
from .._errors import ServiceError
from .._replies import Chunk, End, Final, Invalid, Result
from .._service import ActionService, Invoke


async def render_views(
    service: ActionService, path: str, render_ids: dict[str, str], *, caller: CallerInfo, log: logging.Logger
) -> dict[str, str]:
    """Each view's fresh HTML by model id; a view that could not render is left out (the
    page then shows the prime's HTML, and the loader tries again)."""
    if not render_ids:
        return {}
    try:
        async with service.using(notebook=path) as target:
            calls = {
                model_id: service.invoke(target, Invoke(action_id, by_id=True, caller=caller))
                for model_id, action_id in render_ids.items()
            }
            replies = await asyncio.gather(*(call.next() for call in calls.values()), return_exceptions=True)
    except ServiceError as err:
        log.warning("notebook_actions: the views of %s could not render for a page: %s", path, err.message)
        return {}
    fresh: dict[str, str] = {}
    for model_id, reply in zip(calls, replies, strict=True):
        if isinstance(reply, Result) and isinstance(reply.value, str):
            fresh[model_id] = reply.value
        else:
            calls[model_id].cancel()
            log.warning("notebook_actions: a view of %s did not render for a page: %r", path, reply)
    return fresh


@dataclass
class Outcome:
    """How a form's call ended: a result (a stream's chunks as a list), or per-field errors,
    or a final reply that is neither (``reply``), or a service error."""

    value: Any = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    reply: Final | None = None
    error: ServiceError | None = None

    @property
    def kind(self) -> str:
        if self.error is not None or (self.reply is not None and not isinstance(self.reply, Result | Invalid)):
            return "error"
        return "invalid" if isinstance(self.reply, Invalid) else "result"


async def call_action(service: ActionService, path: str, invoke: Invoke) -> Outcome:
    """One call of a form posted without JavaScript, to its end."""
    try:
        async with service.using(notebook=path) as target:
            chunks: list[Any] = []
            async for reply in service.invoke(target, invoke):
                if isinstance(reply, Chunk):
                    chunks.append(reply.value)
                elif isinstance(reply, End):
                    return Outcome(value=chunks, reply=reply)
                elif isinstance(reply, Result):
                    return Outcome(value=reply.value, reply=reply)
                elif isinstance(reply, Invalid):
                    errors = [{"field": e.get("field", ""), "message": str(e.get("message", ""))} for e in reply.errors]
                    return Outcome(errors=errors, reply=reply)
                elif isinstance(reply, Final):
                    return Outcome(reply=reply)
    except ServiceError as err:
        return Outcome(error=err)
    return Outcome(error=None, reply=None)
