"""``Progress``: what a streaming action yields to report how far it has got."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """Yield ``Progress(3, 10, "rows")`` from a generator action: a form shows a
    progress bar instead of appending the chunk as text. ``total=None`` means unknown."""

    value: float
    total: float | None = None
    message: str = ""
