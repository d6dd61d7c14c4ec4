"""Percentiles and the units the table prints."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), nearest rank: an observed sample, never an interpolation."""
    if not samples:
        message = "no samples: the measurement produced nothing to summarise"
        raise ValueError(message)
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


@dataclass(frozen=True)
class Latency:
    """Seconds."""

    p50: float
    p99: float
    count: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Latency:
        return cls(percentile(samples, 50), percentile(samples, 99), len(samples))

    @classmethod
    def median_of(cls, runs: Sequence[Latency]) -> Latency:
        """Median p50 and median p99 over repeated runs."""
        return cls(
            statistics.median(r.p50 for r in runs),
            statistics.median(r.p99 for r in runs),
            sum(r.count for r in runs),
        )


def fmt_seconds(seconds: float) -> str:
    """Three significant figures: 44 ns, 5.71 µs, 1.31 ms, 288 ms, 11.2 s."""
    for scale, unit in ((1e-6, "ns"), (1e-3, "µs"), (1.0, "ms")):
        if seconds < scale:
            return f"{_g3(seconds * 1e3 / scale)} {unit}"
    return f"{_g3(seconds)} s"


def _g3(value: float) -> str:
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


def fmt_latency(latency: Latency) -> str:
    return f"p50 {fmt_seconds(latency.p50)}, p99 {fmt_seconds(latency.p99)}"


def fmt_rate(per_second: float) -> str:
    return f"{per_second:,.0f} req/s"


def fmt_bytes(size: float) -> str:
    return f"{size / 1e6:,.1f} MB"
