"""The table: one row per measurement, printed and written to RESULTS.md with the machine."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

NOT_AVAILABLE = "not available"


@dataclass
class Row:
    """One measurement: ours beside the baseline measured in the same run."""

    scenario: str  # "3a": the scenario number, then a letter per row
    name: str
    ours: str
    baseline: str
    ratio: float | None  # ours / baseline (for latencies, lower is better; for rates, higher)
    goal: str
    met: bool | None  # None: no goal, or nothing measured
    note: str = ""

    @property
    def verdict(self) -> str:
        return {True: "met", False: "MISSED", None: "-"}[self.met]


def unavailable(scenario: str, name: str, goal: str, reason: str, baseline: str = "-") -> Row:
    return Row(scenario, name, NOT_AVAILABLE, baseline, None, goal, None, reason)


def fmt_ratio(ratio: float | None) -> str:
    if ratio is None:
        return "-"
    return f"{ratio:.2f}x" if ratio < 10 else f"{ratio:.0f}x"


COLUMNS = ("#", "scenario", "ours", "baseline (same run)", "ratio", "goal", "")


def _cells(row: Row) -> tuple[str, ...]:
    return (row.scenario, row.name, row.ours, row.baseline, fmt_ratio(row.ratio), row.goal, row.verdict)


def text_table(rows: Sequence[Row]) -> str:
    cells = [COLUMNS, *(_cells(r) for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = [f"  [{which}] {note}" for which, note in grouped_notes(rows)]
    return "\n".join(lines + (["", *notes] if notes else []))


def grouped_notes(rows: Sequence[Row]) -> list[tuple[str, str]]:
    """Each distinct note once, with the rows it is about."""
    by_note: dict[str, list[str]] = {}
    for row in rows:
        if row.note:
            by_note.setdefault(row.note, []).append(row.scenario)
    return [(", ".join(scenarios), note) for note, scenarios in by_note.items()]


def markdown_table(rows: Sequence[Row]) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    out = [line(COLUMNS), line(["---"] * len(COLUMNS))]
    out += [line(_cells(r)) for r in rows]
    return "\n".join(out)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        pass
    # Kernel Gateway runs from a venv of its own (``make gateways``).
    paths = [str(p) for p in (Path(__file__).resolve().parents[1] / ".venv-kg").glob("lib/python*/site-packages")]
    for found in metadata.distributions(name=dist, path=paths):
        return str(found.version)
    return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    return "unknown"


def _command_output(*argv: str) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    return done.stdout.strip().splitlines()[0] if done.stdout.strip() else "not found"


def machine() -> list[str]:
    """A description of this machine and the software measured, one fact per line."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    packages = [
        "notebook-actions",
        "jupyter-server",
        "jupyterlab",
        "ipykernel",
        "jupyter-client",
        "tornado",
        "pyzmq",
        "jupyter-kernel-gateway",
        "ipywidgets",
        "anywidget",
        "playwright",
    ]
    return [
        f"{platform.system()} {platform.release()} ({platform.machine()}), {_cpu_model()}, "
        f"{os.cpu_count()} cores, {_memory()} memory",
        f"load average when the run started: {load} (other work on the machine makes figures noisy)",
        f"Python {sys.version.split()[0]}; " + ", ".join(f"{p} {_version(p)}" for p in packages),
        f"wrk: {_command_output('wrk', '--version').split(' [')[0]}; "
        f"chromium: {_command_output('chromium', '--version')}",
    ]


def _git_commit() -> str:
    return _command_output("git", "-C", str(Path(__file__).parent), "rev-parse", "--short", "HEAD")


def results_markdown(
    rows: Sequence[Row], facts: Sequence[str], notes: Sequence[tuple[str, str]], elapsed: float, command: str
) -> str:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "# Benchmark results",
        "",
        f"Written by `{command}` on {now}, at commit {_git_commit()}, in {elapsed:.0f} s. "
        "Every baseline was measured in the same run as our figure; the ratio is ours / baseline. "
        "What each scenario measures: [benchmarks/README.md](README.md).",
        "",
        "## Machine",
        "",
        *[f"- {fact}" for fact in facts],
        "",
        "## Results",
        "",
        markdown_table(rows),
        "",
    ]
    row_notes = grouped_notes(rows)
    if row_notes:
        parts += ["Notes on rows:", ""]
        parts += [f"- **{which}**: {note}" for which, note in row_notes]
        parts += [""]
    if notes:
        parts += ["## Where a goal is missed: profile notes", ""]
        for title, text in notes:
            parts += [f"### {title}", "", text.strip(), ""]
    return "\n".join(parts)
