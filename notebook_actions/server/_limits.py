"""The rate limit: at most N calls per period per caller (``NotebookActions.rate_limit``).

A token bucket per caller (``_identity.limit_key``: the identity, or the client's address
when it has none): a caller may spend its N calls in a burst, then gets one more every
period / N. Refusals say when the next call is allowed (``RateLimited.retry_after``).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from ._errors import RateLimited

PERIODS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}
_RATE = re.compile(r"\s*(\d+)\s*/\s*(second|minute|hour|day)s?\s*", re.IGNORECASE)

#: The rate limit of public notebooks' anonymous visitors when ``rate_limit`` says none:
#: enough for a person using the app page, not for a script hammering it.
PUBLIC_RATE_LIMIT = "60/minute"

#: Past this many callers, those whose buckets are full again are forgotten.
MAX_CALLERS = 10_000


@dataclass(frozen=True)
class Rate:
    calls: int
    period: float
    text: str


def parse_rate(text: str) -> Rate:
    """``"30/minute"`` (second, minute, hour or day); ValueError saying the form otherwise."""
    match = _RATE.fullmatch(text)
    if match is None or int(match.group(1)) < 1:
        message = f"{text!r} is not a rate: say how many calls per second, minute, hour or day, as '30/minute'"
        raise ValueError(message)
    calls, period = int(match.group(1)), match.group(2).lower()
    return Rate(calls, PERIODS[period], f"{calls} calls per {period}")


class RateLimiter:
    """Admits each caller's calls at ``rate`` (``admit`` raises ``RateLimited`` past it)."""

    def __init__(self, rate: Rate, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        #: per caller: the calls it may make now (fractional), as of when
        self._buckets: dict[str, tuple[float, float]] = {}

    def admit(self, key: str) -> None:
        now = self._clock()
        rate = self.rate
        tokens, then = self._buckets.get(key, (float(rate.calls), now))
        tokens = min(float(rate.calls), tokens + (now - then) * rate.calls / rate.period)
        if tokens < 1:
            wait = max(1, math.ceil((1 - tokens) * rate.period / rate.calls))
            self._buckets[key] = (tokens, now)
            message = f"too many calls: each caller may make {rate.text}; try again in {wait} s"
            raise RateLimited(message, wait)
        self._buckets[key] = (tokens - 1, now)
        if len(self._buckets) > MAX_CALLERS:
            self._forget_full(now)

    def _forget_full(self, now: float) -> None:
        rate = self.rate
        for key, (tokens, then) in list(self._buckets.items()):
            if tokens + (now - then) * rate.calls / rate.period >= rate.calls:
                del self._buckets[key]
