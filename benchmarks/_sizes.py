"""How much each scenario does: the full run (``make bench``) and the smoke run (tests)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    smoke: bool
    repeats: int  # independent runs of each latency measurement; the table shows their median
    dispatcher_calls: int  # per run
    roundtrips: int  # kernel comm round trips per run
    http_seconds: float  # length of one HTTP load run
    http_repeats: int  # HTTP load runs per figure (median of them)
    settle: float  # seconds of quiet after each HTTP load run
    concurrent: int  # scenario 4: calls in flight at once
    sleep: float  # scenario 4: how long each call sleeps
    browser_clicks: int  # scenario 5: per kind of widget and setting
    upload_bytes: int  # scenario 6
    scale_actions: tuple[int, ...]  # scenario 7
    scale_kernels: tuple[int, ...]
    serve_kernels: tuple[int, ...]  # scenario 9: pool sizes (the largest also heals)


FULL = Sizes(
    smoke=False,
    repeats=5,
    dispatcher_calls=2000,
    roundtrips=400,
    http_seconds=3.0,
    http_repeats=3,
    settle=0.3,
    concurrent=100,
    sleep=0.1,
    browser_clicks=40,
    upload_bytes=50_000_000,
    scale_actions=(1, 10, 100),
    scale_kernels=(1, 4),
    serve_kernels=(1, 2, 4),
)

SMOKE = Sizes(
    smoke=True,
    repeats=1,
    dispatcher_calls=20,
    roundtrips=5,
    http_seconds=0.3,
    http_repeats=1,
    settle=0.0,
    concurrent=4,
    sleep=0.05,
    browser_clicks=2,
    upload_bytes=300_000,
    scale_actions=(1, 3),
    scale_kernels=(1, 2),
    serve_kernels=(1,),
)
