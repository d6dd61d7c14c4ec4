"""Every benchmark scenario runs once on a tiny size, so none of them rots.

No timing is asserted here: only that each scenario runs against real kernels and
servers and produces well-formed rows (figures in ``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks import __main__ as cli
from benchmarks._env import Bench
from benchmarks._procs import Workspace
from benchmarks._report import NOT_AVAILABLE, Row, markdown_table, text_table
from benchmarks._sizes import SMOKE
from benchmarks._stats import Latency, fmt_seconds, percentile

BROWSER = {"5", "11"}


@pytest.fixture(scope="module")
def bench() -> Iterator[Bench]:
    # The asyncio client, not wrk: the suite must not need wrk installed.
    with Workspace() as workspace:
        yield Bench(SMOKE, workspace, use_wrk=False)


def check_rows(rows: list[Row], number: str) -> None:
    assert rows, f"scenario {number} produced no rows"
    for row in rows:
        assert row.scenario.startswith(number), row
        assert row.name and row.goal and row.baseline, row
        assert row.ours != "FAILED", row
        if row.ours == NOT_AVAILABLE:
            # Honest: no figure, no ratio, no verdict, and a reason.
            assert row.ratio is None and row.met is None and row.note, row
        else:
            assert row.ratio is None or row.ratio > 0, row
            assert "failed" not in row.note, row


@pytest.mark.parametrize(
    "number",
    [pytest.param(n, marks=[pytest.mark.browser] if n in BROWSER else []) for n, _, _ in cli.SCENARIOS],
)
def test_scenario_runs_on_a_tiny_size(bench: Bench, number: str) -> None:
    rows, ok = cli.run_scenarios(bench, [number], echo=False)
    assert ok, rows
    check_rows(rows, number)
    assert text_table(rows).count("\n") >= 2
    assert markdown_table(rows).startswith("| # |")


def test_main_writes_results_with_the_machine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "RESULTS.md"
    assert cli.main(["--smoke", "--no-wrk", "--only", "1", "--results", str(results)]) == 0
    printed = capsys.readouterr().out
    assert "dispatcher" in printed
    text = results.read_text()
    assert "## Machine" in text and "cores" in text
    assert "| 1a |" in text and "| 1b |" in text


def test_main_refuses_an_unknown_scenario() -> None:
    with pytest.raises(SystemExit):
        cli.main(["--only", "99"])


def test_percentiles_and_units() -> None:
    samples = [float(i) for i in range(1, 101)]
    assert percentile(samples, 50) == 50
    assert percentile(samples, 99) == 99
    assert percentile([3.0], 99) == 3.0
    assert Latency.median_of([Latency(1, 2, 1), Latency(3, 4, 1), Latency(2, 3, 1)]) == Latency(2, 3, 3)
    assert [fmt_seconds(s) for s in (44e-9, 5.71e-6, 1.314e-3, 0.288, 11.17)] == [
        "44 ns",
        "5.71 µs",
        "1.31 ms",
        "288 ms",
        "11.2 s",
    ]
