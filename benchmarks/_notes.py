"""Profile notes for RESULTS.md: why a goal is missed, as found by profiling.

Written by hand after profiling (pyinstrument on the process in question, see
README.md), keyed by the row they explain; only rows whose goal was missed in the run
get their note printed.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._report import Row

NOTES: dict[str, tuple[str, str]] = {}


def profile_notes(rows: Sequence[Row]) -> list[tuple[str, str]]:
    missed = [row for row in rows if row.met is False]
    out = []
    for row in missed:
        title, text = NOTES.get(row.scenario, (f"{row.scenario} {row.name}", ""))
        out.append((title, text or "Goal missed; not profiled yet."))
    return out
