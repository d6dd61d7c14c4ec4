"""``python -m benchmarks``: run the scenarios, print one table, write RESULTS.md."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from ._env import Bench
from ._notes import profile_notes
from ._procs import Workspace
from ._report import Row, machine, results_markdown, text_table
from ._sizes import FULL, SMOKE

#: (number, module, what it measures); each module has ``run(bench) -> list[Row]``.
SCENARIOS: list[tuple[str, str, str]] = [
    ("1", "s1_dispatcher", "dispatcher overhead vs a direct call"),
    ("2", "s2_kernel", "kernel comm round trip vs a bare comm echo"),
    ("3", "s3_http", "HTTP invoke vs Kernel Gateway and GET /api"),
    ("4", "s4_concurrency", "100 concurrent 100 ms async calls"),
    ("5", "s5_browser", "JupyterLab in Chromium: form submit vs ipywidgets Button"),
    ("6", "s6_upload", "50 MB upload through a Form and multipart HTTP"),
    ("7", "s7_scale", "HTTP latency with 1/10/100 actions and 1/4 kernels"),
    ("8", "s8_threadsafe", "a threadsafe action while a CPU-bound cell runs vs the kernel idle"),
    ("9", "s9_serve", "served pools of 1/2/4 kernels: CPU-bound throughput, startup, healing"),
    ("10", "s10_gateway", "calls through Enterprise Gateway: the delayed-ACK stall, fix off/on vs a patched EG"),
    ("11", "s11_apps", "app pages vs Voila 0.5: page load until live, memory with many visitors"),
]

RESULTS = Path(__file__).with_name("RESULTS.md")


def scenario_runner(module: str) -> Callable[[Bench], list[Row]]:
    loaded = importlib.import_module(f"{__package__}.{module}")
    run: Callable[[Bench], list[Row]] = loaded.run
    return run


def run_scenarios(bench: Bench, numbers: Sequence[str], *, echo: bool = True) -> tuple[list[Row], bool]:
    """Run the chosen scenarios; a scenario that crashes becomes a row saying so."""
    rows: list[Row] = []
    ok = True
    for number, module, title in SCENARIOS:
        if number not in numbers:
            continue
        if echo:
            print(f"[{number}] {title} ...", file=sys.stderr, flush=True)
        started = time.monotonic()
        try:
            rows += scenario_runner(module)(bench)
        except Exception as err:
            ok = False
            traceback.print_exc()
            rows.append(
                Row(
                    number,
                    title,
                    "FAILED",
                    "-",
                    None,
                    "-",
                    None,
                    f"the scenario raised {type(err).__name__}: {err}".splitlines()[0][:300],
                )
            )
        if echo:
            print(f"[{number}] done in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    return rows, ok


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--smoke", action="store_true", help="every scenario once on a tiny size (for the tests); writes no RESULTS.md"
    )
    parser.add_argument("--only", default="", help="comma-separated scenario numbers, e.g. 1,2,3")
    parser.add_argument("--no-wrk", action="store_true", help="use the asyncio client even if wrk is installed")
    parser.add_argument(
        "--results",
        type=Path,
        default=None,
        help=f"where to write the results (default: {RESULTS.name} on a full run of all scenarios, nowhere otherwise)",
    )
    parser.add_argument(
        "--profile-server",
        choices=("http", "upload"),
        default=None,
        help="profile jupyter-server with pyinstrument under scenario 3's load (http) or "
        "scenario 6's uploads (upload); writes benchmarks/profiles/, runs nothing else",
    )
    args = parser.parse_args(argv)
    # Stopped from outside (a timeout, CI): still stop every server and kernel started.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if args.profile_server:
        from ._profile import profile_server

        with Workspace() as workspace:
            bench = Bench(SMOKE if args.smoke else FULL, workspace, use_wrk=False if args.no_wrk else None)
            report = profile_server(bench, args.profile_server)
        print(f"wrote {report}")
        return 0
    every = [number for number, _, _ in SCENARIOS]
    numbers = [n.strip() for n in args.only.split(",") if n.strip()] or every
    unknown = sorted(set(numbers) - set(every))
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}: choose from {', '.join(every)}")
    results = args.results
    if results is None and not args.smoke and numbers == every:
        results = RESULTS

    facts = machine()
    started = time.monotonic()
    with Workspace() as workspace:
        bench = Bench(SMOKE if args.smoke else FULL, workspace, use_wrk=False if args.no_wrk else None)
        rows, ok = run_scenarios(bench, numbers)
    elapsed = time.monotonic() - started
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    facts.insert(2, f"load average when the run ended: {load}")
    print(text_table(rows))
    print(f"\n{len(rows)} rows in {elapsed:.0f} s; load generator: {'wrk' if bench.use_wrk else 'asyncio client'}")
    if results is not None:
        command = "python -m benchmarks" + (" " + " ".join(argv) if argv else "")
        results.write_text(results_markdown(rows, facts, profile_notes(rows), elapsed, command))
        print(f"wrote {results}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
