"""Calls the app page's server makes itself: its views' renders, on each page load.

A page load renders every ``View`` of the page afresh in one kernel of the pool (each holds
a ``render_action``), so the page shows the data as it is now, before any JavaScript runs.
One lease for all of a page's views, released as soon as they rendered. (When the
transport-neutral service of issue 18 lands, this becomes a use of it.)
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ._bridge import BridgeError
from ._kernels import Bridges, UnknownKernel
from ._pool import Pool, Unavailable


async def render_views(
    pool: Pool, bridges: Bridges, render_ids: dict[str, str], *, timeout: float, log: logging.Logger
) -> dict[str, str]:
    """Each view's fresh HTML by model id; a view that could not render is left out (the
    page then shows the prime's HTML, and the loader tries again)."""
    if not render_ids:
        return {}
    try:
        lease = await pool.lease(timeout)
    except Unavailable:
        return {}
    try:
        bridge = bridges.get(lease.kernel_id)
        await bridge.ready(timeout)
        calls = {
            model_id: bridge.request({"kind": "invoke", "action": action_id, "args": {}})
            for model_id, action_id in render_ids.items()
        }
        replies = await asyncio.gather(*(call.reply(timeout) for call in calls.values()), return_exceptions=True)
    except (BridgeError, UnknownKernel) as err:
        log.warning("notebook_actions: the views of %s could not render for a page: %s", pool.path, err)
        return {}
    finally:
        lease.release()
    fresh: dict[str, str] = {}
    for model_id, outcome in zip(calls, replies, strict=True):
        reply: Any = outcome[0] if isinstance(outcome, tuple) else None
        if isinstance(reply, dict) and reply.get("kind") == "result" and isinstance(reply.get("value"), str):
            fresh[model_id] = reply["value"]
        else:
            calls[model_id].cancel()
            log.warning("notebook_actions: a view of %s did not render for a page: %r", pool.path, outcome)
    return fresh


async def call_action(
    pool: Pool,
    bridges: Bridges,
    message: dict[str, Any],
    buffers: list[bytes],
    *,
    timeout: float,
) -> dict[str, Any]:
    """One call of a no-JavaScript form: its final reply (a stream's chunks gathered into a
    ``result`` of their list), or an ``error`` reply that says why there was none."""
    try:
        lease = await pool.lease(timeout)
    except Unavailable as err:
        return {"kind": "error", "type": "Unavailable", "message": err.message, "digest": ""}
    try:
        bridge = bridges.get(lease.kernel_id)
        await bridge.ready(timeout)
        call = bridge.request(message, buffers)
        chunks: list[Any] = []
        while True:
            reply, _ = await call.reply(timeout)
            kind = reply.get("kind")
            if kind == "chunk":
                if "progress" not in reply:
                    chunks.append(reply.get("value"))
            elif kind == "end":
                return {"kind": "result", "value": chunks}
            elif kind != "waiting":
                return dict(reply)
    except (BridgeError, UnknownKernel) as err:
        message_text = err.message if isinstance(err, BridgeError) else str(err)
        return {"kind": "error", "type": type(err).__name__, "message": message_text, "digest": ""}
    finally:
        lease.release()
